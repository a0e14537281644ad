// A raw PostgreSQL wire client for robustness tests: sends exactly the bytes a test wants and
// collects the server's messages, so malformed input can be aimed at the gateway.
import { connect, type Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import { readErrorFields } from '../../proxy/protocol/backend.js';
import { MessageFramer } from '../../proxy/protocol/framer.js';

export interface RawSession {
  socket: Socket;
  send(bytes: Buffer): void;
  /** Waits until a message of this type arrives (or the connection closes); returns all messages so far. */
  until(type: string, timeoutMs?: number): Promise<Buffer[]>;
  /** Resolves when the server closed the connection; returns every message received. */
  closed(timeoutMs?: number): Promise<Buffer[]>;
  messages: Buffer[];
  /** Raw bytes received (one-byte SSL answers included). */
  raw(): Buffer;
}

export const typeOf = (m: Buffer) => String.fromCharCode(m[0]!);

/** The fields of an ErrorResponse: code letter → text. */
export function fieldsOf(m: Buffer): Record<string, string> {
  return Object.fromEntries(readErrorFields(m));
}

export async function rawConnect(port: number, opts: { typed?: boolean } = {}): Promise<RawSession> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const framer = new MessageFramer({ maxMessageBytes: 1 << 30 });
  const messages: Buffer[] = [];
  const rawChunks: Buffer[] = [];
  let isClosed = false;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  socket.on('data', (d: Buffer) => {
    rawChunks.push(d);
    if (opts.typed !== false) {
      try {
        messages.push(...framer.push(d));
      } catch {
        /* one-byte answers before typed messages: see raw() */
      }
    }
    wake();
  });
  socket.on('close', () => {
    isClosed = true;
    wake();
  });
  socket.on('error', () => {});
  const wait = (done: () => boolean, timeoutMs: number) =>
    new Promise<Buffer[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; got ${messages.map(typeOf).join('')}`)), timeoutMs);
      const check = () => {
        if (done()) {
          clearTimeout(timer);
          resolve(messages);
        } else waiters.push(check);
      };
      check();
    });
  return {
    socket,
    messages,
    send: (b) => socket.write(b),
    until: (type, timeoutMs = 5000) => wait(() => isClosed || messages.some((m) => typeOf(m) === type), timeoutMs),
    closed: (timeoutMs = 5000) => wait(() => isClosed, timeoutMs),
    raw: () => Buffer.concat(rawChunks),
  };
}

/** Startup + password exchange with a token; resolves once ReadyForQuery arrived. */
export async function rawLogin(port: number, token: string, database: string): Promise<RawSession> {
  const s = await rawConnect(port);
  s.send(serialize.startup({ user: 'agent', database }));
  await s.until('R');
  s.send(serialize.password(token));
  await s.until('Z');
  return s;
}
