// Client → server messages (pg-protocol parses only the server's side). Parsing is strict:
// a malformed message is a ProtocolError, never a guess.
import { ProtocolError } from './errors.js';

export const PROTOCOL_3_0 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

export type StartupPacket =
  | { type: 'ssl_request' }
  | { type: 'gssenc_request' }
  | { type: 'cancel_request'; processId: number; secretKey: number }
  | { type: 'startup'; parameters: Record<string, string> };

export function parseStartupPacket(msg: Buffer): StartupPacket {
  const code = msg.readInt32BE(4);
  if (code === SSL_REQUEST && msg.length === 8) return { type: 'ssl_request' };
  if (code === GSSENC_REQUEST && msg.length === 8) return { type: 'gssenc_request' };
  if (code === CANCEL_REQUEST && msg.length === 16) {
    return { type: 'cancel_request', processId: msg.readInt32BE(8), secretKey: msg.readInt32BE(12) };
  }
  if (code !== PROTOCOL_3_0) {
    throw new ProtocolError(`unsupported frontend protocol ${code >> 16}.${code & 0xffff}: auditgate speaks 3.0`);
  }
  const r = new Reader(msg, 8);
  const parameters: Record<string, string> = Object.create(null) as Record<string, string>;
  for (;;) {
    const key = r.cstring();
    if (key === '') break;
    parameters[key] = r.cstring();
  }
  r.end('startup packet');
  return { type: 'startup', parameters };
}

/** Reads a message body field by field, refusing to run past its end. */
export class Reader {
  constructor(
    private readonly buf: Buffer,
    public off: number,
  ) {}

  cstring(): string {
    const end = this.buf.indexOf(0, this.off);
    if (end < 0) throw new ProtocolError('unterminated string in message');
    const s = this.buf.toString('utf8', this.off, end);
    this.off = end + 1;
    return s;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.off);
    this.off += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }

  byte(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }

  end(what: string): void {
    if (this.off !== this.buf.length) throw new ProtocolError(`${what}: ${this.buf.length - this.off} unexpected trailing bytes`);
  }

  private need(n: number): void {
    if (n < 0 || this.off + n > this.buf.length) throw new ProtocolError('message shorter than its fields');
  }
}

export interface ParseMessage {
  name: string;
  query: string;
  paramTypes: number[];
}

export interface BindMessage {
  portal: string;
  statement: string;
  paramFormats: number[];
  /** Text of each parameter when its format is text; null for SQL NULL or binary values. */
  params: (string | null)[];
  resultFormats: number[];
}

export function parseQuery(msg: Buffer): string {
  const r = new Reader(msg, 5);
  const q = r.cstring();
  r.end('Query');
  return q;
}

export function parseParse(msg: Buffer): ParseMessage {
  const r = new Reader(msg, 5);
  const name = r.cstring();
  const query = r.cstring();
  const n = r.int16();
  if (n < 0) throw new ProtocolError('Parse: negative parameter type count');
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(r.int32());
  r.end('Parse');
  return { name, query, paramTypes };
}

export function parseBind(msg: Buffer): BindMessage {
  const r = new Reader(msg, 5);
  const portal = r.cstring();
  const statement = r.cstring();
  const nf = r.int16();
  if (nf < 0) throw new ProtocolError('Bind: negative format count');
  const paramFormats: number[] = [];
  for (let i = 0; i < nf; i++) paramFormats.push(r.int16());
  const np = r.int16();
  if (np < 0) throw new ProtocolError('Bind: negative parameter count');
  if (nf > 1 && nf !== np) throw new ProtocolError(`Bind: ${nf} parameter formats for ${np} parameters`);
  const params: (string | null)[] = [];
  for (let i = 0; i < np; i++) {
    const len = r.int32();
    if (len === -1) {
      params.push(null);
      continue;
    }
    if (len < 0) throw new ProtocolError('Bind: invalid parameter length');
    const value = r.bytes(len);
    const format = nf === 0 ? 0 : nf === 1 ? paramFormats[0]! : paramFormats[i]!;
    params.push(format === 0 ? value.toString('utf8') : null);
  }
  const nr = r.int16();
  if (nr < 0) throw new ProtocolError('Bind: negative result format count');
  const resultFormats: number[] = [];
  for (let i = 0; i < nr; i++) resultFormats.push(r.int16());
  r.end('Bind');
  return { portal, statement, paramFormats, params, resultFormats };
}

/** Describe ('D') and Close ('C'): which kind ('S' statement, 'P' portal) and its name. */
export function parseTarget(msg: Buffer, what: string): { kind: 'S' | 'P'; name: string } {
  const r = new Reader(msg, 5);
  const k = String.fromCharCode(r.byte());
  if (k !== 'S' && k !== 'P') throw new ProtocolError(`${what}: unknown target '${k}'`);
  const name = r.cstring();
  r.end(what);
  return { kind: k, name };
}

export function parseExecute(msg: Buffer): { portal: string; maxRows: number } {
  const r = new Reader(msg, 5);
  const portal = r.cstring();
  const maxRows = r.int32();
  r.end('Execute');
  return { portal, maxRows };
}

/** PasswordMessage ('p') during cleartext password authentication. */
export function parsePassword(msg: Buffer): string {
  const r = new Reader(msg, 5);
  const pw = r.cstring();
  r.end('PasswordMessage');
  return pw;
}
