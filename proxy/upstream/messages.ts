// Wire-level helpers for the upstream startup: the StartupMessage, and a reader that frames
// backend messages on a socket while the gateway itself talks to the server (TLS
// negotiation, authentication, startup). Once the session is handed over, none of this runs:
// the relay moves raw bytes.
import type { Duplex } from 'node:stream';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { UpstreamError } from './errors.js';

/** PostgreSQL refuses startup packets larger than this (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET = 10_000;
/** Largest backend message accepted during startup (an ErrorResponse is a few hundred bytes). */
export const MAX_STARTUP_MESSAGE = 1 << 20;
const PROTOCOL_3_0 = 196608;

/**
 * Startup parameters the gateway owns or does not forward:
 * - user, database: set by the gateway (the policy's upstream role, the target's database);
 * - replication: a replication connection speaks another protocol and bypasses statement analysis;
 * - _pq_.*: protocol extensions would need NegotiateProtocolVersion handling end to end.
 */
export function isGatewayOwnedStartupKey(key: string): boolean {
  return key === 'user' || key === 'database' || key === 'replication' || key.startsWith('_pq_.');
}

/**
 * The agent's startup parameters as they may be forwarded upstream: gateway-owned keys
 * removed, and anything that cannot be encoded (empty key, NUL byte) dropped, since a NUL
 * inside a value would smuggle extra key/value pairs (e.g. `user`) into the packet.
 */
export function sanitizeStartupParams(params: Record<string, string>): { params: Record<string, string>; dropped: string[] } {
  const out: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (typeof value !== 'string' || key === '' || key.includes('\0') || value.includes('\0') || isGatewayOwnedStartupKey(key)) {
      dropped.push(key);
      continue;
    }
    out[key] = value;
  }
  return { params: out, dropped };
}

/**
 * A protocol 3.0 StartupMessage with exactly these parameters, in this order.
 * (pg-protocol's serialize.startup() always appends client_encoding=UTF8, which would
 * silently override the agent's own client_encoding: the gateway must pass it through.)
 */
export function serializeStartupMessage(params: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (key === '' || key.includes('\0') || value.includes('\0')) {
      throw new UpstreamError('startup_failed', `startup parameter ${JSON.stringify(key)} cannot be sent: empty name or NUL byte`);
    }
    parts.push(Buffer.from(key, 'utf8'), Buffer.alloc(1), Buffer.from(value, 'utf8'), Buffer.alloc(1));
  }
  parts.push(Buffer.alloc(1));
  const body = Buffer.concat(parts);
  const length = 8 + body.length;
  if (length > MAX_STARTUP_PACKET) {
    throw new UpstreamError('startup_failed', `startup packet of ${length} bytes exceeds PostgreSQL's limit of ${MAX_STARTUP_PACKET}`);
  }
  const head = Buffer.alloc(8);
  head.writeInt32BE(length, 0);
  head.writeInt32BE(PROTOCOL_3_0, 4);
  return Buffer.concat([head, body]);
}

/** One backend message: type byte, and the whole message including its 5-byte header. */
export interface Frame {
  code: string;
  raw: Buffer;
  /** The message body (after type and length). */
  body: Buffer;
}

/**
 * Decodes one complete backend message with pg-protocol's Parser. Only for message types the
 * Parser knows (it throws on authentication subtypes it does not know: screen those first).
 */
export function decodeFrame(frame: Frame): BackendMessage {
  let decoded: BackendMessage | undefined;
  new Parser().parse(frame.raw, (m) => {
    decoded = m;
  });
  if (!decoded) throw new UpstreamError('startup_failed', `could not decode upstream message '${frame.code}'`);
  return decoded;
}

/**
 * Reads framed backend messages (or single bytes) from a socket during startup. Buffers what
 * arrives; complete messages already received are still delivered after the server closed
 * the connection (a FATAL ErrorResponse is usually followed by the close). `detach()` removes
 * every listener, pauses the socket and returns the bytes not consumed.
 */
export class SocketReader {
  private buf: Buffer = Buffer.alloc(0);
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly socket: Duplex,
    /** Builds the error for a socket that ended, closed or failed (cause: the socket error, if any). */
    private readonly gone: (cause?: Error) => UpstreamError,
  ) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.resume();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.notify();
  };
  private readonly onError = (err: Error): void => this.fail(this.gone(err));
  private readonly onEnd = (): void => this.fail(this.gone());

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Makes pending and future reads fail with `err` (once buffered data is used up). The first failure wins. */
  fail(err: Error): void {
    if (!this.failure) this.failure = err;
    this.notify();
  }

  private async waitForMore(): Promise<void> {
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** Exactly `n` bytes. */
  async bytes(n: number): Promise<Buffer> {
    while (this.buf.length < n) await this.waitForMore();
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next complete message. `allowed`: the type bytes acceptable here; anything else fails at once. */
  async frame(allowed: string, describeBad: (code: number) => UpstreamError): Promise<Frame> {
    for (;;) {
      if (this.buf.length >= 1) {
        const code = this.buf[0]!;
        if (!allowed.includes(String.fromCharCode(code))) throw describeBad(code);
        if (this.buf.length >= 5) {
          const len = this.buf.readUInt32BE(1);
          if (len < 4 || len > MAX_STARTUP_MESSAGE) throw describeBad(code);
          if (this.buf.length >= 1 + len) {
            const raw = this.buf.subarray(0, 1 + len);
            this.buf = this.buf.subarray(1 + len);
            return { code: String.fromCharCode(code), raw, body: raw.subarray(5) };
          }
        }
      }
      await this.waitForMore();
    }
  }

  /** Stops reading: listeners removed, socket paused. Returns the unconsumed bytes (a copy). */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    const rest = Buffer.from(this.buf);
    this.buf = Buffer.alloc(0);
    return rest;
  }
}
