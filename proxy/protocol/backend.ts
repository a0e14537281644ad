// Server → client messages the gateway writes itself (everything else is relayed as received).
export type TransactionStatus = 'I' | 'T' | 'E';

function message(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function cstrings(...parts: string[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(`${p}\0`, 'utf8')));
}

function int32s(...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(values.length * 4);
  values.forEach((v, i) => b.writeInt32BE(v, i * 4));
  return b;
}

export const authenticationOk = (): Buffer => message('R', int32s(0));
export const authenticationCleartextPassword = (): Buffer => message('R', int32s(3));
export const parameterStatus = (name: string, value: string): Buffer => message('S', cstrings(name, value));
export const backendKeyData = (processId: number, secretKey: number): Buffer => message('K', int32s(processId, secretKey));
export const readyForQuery = (status: TransactionStatus): Buffer => message('Z', Buffer.from(status, 'latin1'));
/** The one-byte answers to SSLRequest / GSSENCRequest. */
export const sslAccepted = (): Buffer => Buffer.from('S');
export const sslRefused = (): Buffer => Buffer.from('N');

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'WARNING' | 'NOTICE';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

function fields(f: ErrorFields): Buffer {
  const parts = [`S${f.severity}`, `V${f.severity}`, `C${f.code}`, `M${f.message}`];
  if (f.detail) parts.push(`D${f.detail}`);
  if (f.hint) parts.push(`H${f.hint}`);
  return Buffer.concat([cstrings(...parts), Buffer.from([0])]);
}

export const errorResponse = (f: ErrorFields): Buffer => message('E', fields(f));
export const noticeResponse = (f: ErrorFields): Buffer => message('N', fields(f));

/** Reads the fields of an ErrorResponse/NoticeResponse body: code letter → text. */
export function readErrorFields(msg: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 5;
  while (off < msg.length && msg[off] !== 0) {
    const code = String.fromCharCode(msg[off]!);
    const end = msg.indexOf(0, off + 1);
    if (end < 0) break;
    out.set(code, msg.toString('utf8', off + 1, end));
    off = end + 1;
  }
  return out;
}
