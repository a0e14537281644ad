// Test support (not a test): a raw PostgreSQL wire connection that returns the backend's
// messages as the complete Buffers the gateway relays (type byte + int32 length + body), so the
// masking tests feed ResultMasker exactly what PostgreSQL sends. Trust auth only.
import { connect, type Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import { readErrorFields } from '../protocol/backend.js';

export interface RawConnectOptions {
  host?: string;
  port?: number;
  user?: string;
  database?: string;
}

export const PG_TEST = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'test',
};

/** Splits a backend byte stream into whole messages. */
export class MessageSplitter {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    let off = 0;
    while (this.pending.length - off >= 5) {
      const len = this.pending.readInt32BE(off + 1);
      if (this.pending.length - off < 1 + len) break;
      out.push(Buffer.from(this.pending.subarray(off, off + 1 + len)));
      off += 1 + len;
    }
    this.pending = this.pending.subarray(off);
    return out;
  }
}

export const typeOf = (m: Buffer): string => String.fromCharCode(m[0]!);

/** Reads an ErrorResponse / NoticeResponse into code letter → text. */
export function errorFields(m: Buffer): Record<string, string> {
  return Object.fromEntries(readErrorFields(m));
}

export class RawConnection {
  private readonly splitter = new MessageSplitter();
  private queue: Buffer[] = [];
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.queue.push(...this.splitter.push(chunk));
      this.wake();
    });
    socket.on('error', (err) => {
      this.failure = err;
      this.wake();
    });
    socket.on('close', () => {
      this.failure ??= new Error('connection closed');
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  static async open(opts: RawConnectOptions = {}): Promise<RawConnection> {
    const o = { ...PG_TEST, ...opts };
    const socket = connect({ host: o.host, port: o.port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const conn = new RawConnection(socket);
    socket.write(serialize.startup({ user: o.user, database: o.database, client_encoding: 'UTF8' }));
    const startup = await conn.untilReady();
    const err = startup.find((m) => typeOf(m) === 'E');
    if (err) throw new Error(`startup failed: ${errorFields(err).M}`);
    return conn;
  }

  private async next(): Promise<Buffer> {
    for (;;) {
      const m = this.queue.shift();
      if (m) return m;
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** Every message up to and including ReadyForQuery. */
  async untilReady(): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (;;) {
      const m = await this.next();
      out.push(m);
      if (typeOf(m) === 'Z') return out;
    }
  }

  /** Simple Query protocol. */
  async query(sql: string): Promise<Buffer[]> {
    this.socket.write(serialize.query(sql));
    return this.untilReady();
  }

  /** Extended protocol: Parse, Bind (all results binary or text), Describe portal, Execute, Sync. */
  async extended(sql: string, opts: { binary: boolean; values?: (string | null)[] }): Promise<Buffer[]> {
    this.socket.write(
      Buffer.concat([
        serialize.parse({ text: sql }),
        serialize.bind({ binary: opts.binary, values: opts.values ?? [] }),
        serialize.describe({ type: 'P' }),
        serialize.execute({}),
        serialize.sync(),
      ]),
    );
    return this.untilReady();
  }

  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    this.socket.write(serialize.end());
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }
}

/** A schema name unique to this test run. */
export function uniqueSchema(prefix = 'mask_test'): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

// ---------------------------------------------------------------------------------------------
// Message builders for unit tests

function frame(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

export function dataRow(values: readonly (string | Buffer | null)[]): Buffer {
  const parts: Buffer[] = [Buffer.from([values.length >> 8, values.length & 0xff])];
  for (const v of values) {
    const len = Buffer.allocUnsafe(4);
    if (v === null) {
      len.writeInt32BE(-1);
      parts.push(len);
    } else {
      const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      len.writeInt32BE(b.length);
      parts.push(len, b);
    }
  }
  return frame('D', Buffer.concat(parts));
}

/** Reads a DataRow back: each value as a Buffer, or null. */
export function readDataRow(m: Buffer): (Buffer | null)[] {
  const n = m.readInt16BE(5);
  const out: (Buffer | null)[] = [];
  let off = 7;
  for (let i = 0; i < n; i++) {
    const len = m.readInt32BE(off);
    off += 4;
    if (len === -1) out.push(null);
    else {
      out.push(m.subarray(off, off + len));
      off += len;
    }
  }
  if (off !== m.length) throw new Error(`DataRow length mismatch: parsed ${off}, message ${m.length}`);
  if (m.readInt32BE(1) !== m.length - 1) throw new Error('DataRow length field wrong');
  return out;
}

export interface TestField {
  name: string;
  tableID?: number;
  columnID?: number;
  dataTypeID?: number;
  format?: number;
}

export function rowDescription(fields: readonly TestField[]): Buffer {
  const parts: Buffer[] = [Buffer.from([fields.length >> 8, fields.length & 0xff])];
  for (const f of fields) {
    const b = Buffer.alloc(18);
    b.writeUInt32BE(f.tableID ?? 0, 0);
    b.writeInt16BE(f.columnID ?? 0, 4);
    b.writeUInt32BE(f.dataTypeID ?? 25, 6);
    b.writeInt16BE(-1, 10);
    b.writeInt32BE(-1, 12);
    b.writeInt16BE(f.format ?? 0, 16);
    parts.push(Buffer.from(`${f.name}\0`, 'utf8'), b);
  }
  return frame('T', Buffer.concat(parts));
}

export function errorResponse(fields: Record<string, string>, type: 'E' | 'N' = 'E'): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`${k}${v}\0`, 'utf8'));
  parts.push(Buffer.from([0]));
  return frame(type, Buffer.concat(parts));
}

export function copyOutResponse(format: 0 | 1, columns: number): Buffer {
  const b = Buffer.alloc(3 + 2 * columns);
  b.writeInt8(format, 0);
  b.writeInt16BE(columns, 1);
  for (let i = 0; i < columns; i++) b.writeInt16BE(format, 3 + 2 * i);
  return frame('H', b);
}

export function copyData(payload: string | Buffer): Buffer {
  return frame('d', typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload);
}
