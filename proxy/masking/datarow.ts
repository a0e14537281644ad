// DataRow ('D') rewriting: the hot path. A row is walked once (int16 column count, then per
// column an int32 length, -1 for NULL, and the bytes); only the plan's work columns are looked at,
// and a row none of whose work columns changes is returned as the same Buffer, unallocated.
import type { DetectorHits } from './detectors.js';
import { REDACTED, encodeMasked, maskWireValue, type TypeClass } from './methods.js';
import type { ColumnPlan, RowPlan } from './plan.js';

/** A message the masker cannot process safely: the gateway must not forward the result. */
export class MaskingError extends Error {
  override readonly name = 'MaskingError';
}

const TYPE_D = 0x44;

/** The raw text of a textual value (jsonb binary: without its version byte), for the detectors. */
function rawText(buf: Buffer, start: number, end: number, cls: TypeClass, format: number): string {
  if (format === 1 && cls === 'jsonb' && end > start) start += 1;
  return buf.toString('utf8', start, end);
}

function encodeScanned(text: string, cls: TypeClass, format: number): Buffer | null {
  if (cls === 'json' || cls === 'jsonb') {
    try {
      JSON.parse(text);
    } catch {
      // a match spanned JSON syntax: the value is no longer JSON, replace it whole
      return encodeMasked(REDACTED, cls, format);
    }
    const body = Buffer.from(text, 'utf8');
    return format === 1 && cls === 'jsonb' ? Buffer.concat([Buffer.from([1]), body]) : body;
  }
  return Buffer.from(text, 'utf8');
}

/** undefined: leave the value as it is. */
function replacement(
  col: ColumnPlan,
  buf: Buffer,
  start: number,
  end: number,
  format: number,
  key: Buffer,
  plan: RowPlan,
  hits: DetectorHits,
): Buffer | null | undefined {
  const textual = format === 0 ? col.typeClass !== 'other' : col.typeClass === 'string' || col.typeClass === 'json' || col.typeClass === 'jsonb';
  if (col.action === 'scan') {
    if (!textual) return undefined;
    const text = rawText(buf, start, end, col.typeClass, format);
    const before = sumHits(hits);
    const out = plan.rules.detectors.redact(text, hits);
    if (sumHits(hits) === before) return undefined;
    col.count++;
    return encodeScanned(out, col.typeClass, format);
  }
  if (col.detect && textual) plan.rules.detectors.redact(rawText(buf, start, end, col.typeClass, format), hits);
  col.count++;
  const k = col.constant[format === 1 ? 1 : 0];
  if (k !== undefined) return k;
  return maskWireValue(col.method, buf, start, end, col.typeClass, format, key);
}

/** Buffer.copy has a fixed cost that dominates for the short runs of a row: copy those by hand. */
function copyBytes(from: Buffer, start: number, end: number, to: Buffer, at: number): number {
  const n = end - start;
  if (n > 48) return at + from.copy(to, at, start, end);
  for (let i = 0; i < n; i++) to[at + i] = from[start + i]!;
  return at + n;
}

function sumHits(h: DetectorHits): number {
  let n = 0;
  for (const k in h) n += h[k]!;
  return n;
}

/**
 * Masks one DataRow message (type byte + length + body) with a plan. `formats` holds each column's
 * format code (0 text, 1 binary) as the client asked for it (RowDescription, or Bind's result
 * formats). Returns `message` itself when nothing changed. Throws MaskingError on a malformed row or
 * one whose column count is not the plan's.
 */
export function maskDataRow(message: Buffer, plan: RowPlan, formats: ArrayLike<number>): Buffer {
  const work = plan.work;
  const nw = work.length;
  if (nw === 0) return message;
  const end = message.length;
  if (end < 7 || message[0] !== TYPE_D) throw new MaskingError('not a DataRow message');
  const n = message.readInt16BE(5);
  if (n !== plan.columns.length) {
    throw new MaskingError(`DataRow has ${n} columns, its RowDescription ${plan.columns.length}`);
  }
  const { starts, lengths, touched, replacements, columns } = plan;
  const key = plan.rules.hashKey;
  const hits = plan.rules.hits;
  let off = 7;
  let w = 0;
  let next = work[0]!;
  let changed = false;
  let delta = 0;
  for (let i = 0; i < n; i++) {
    if (off + 4 > end) throw new MaskingError('truncated DataRow');
    const len = message.readInt32BE(off);
    if (len < -1) throw new MaskingError('bad DataRow value length');
    const valueEnd = off + 4 + (len > 0 ? len : 0);
    if (valueEnd > end) throw new MaskingError('truncated DataRow');
    if (i === next) {
      touched[w] = 0;
      if (len !== -1) {
        const r = replacement(columns[i]!, message, off + 4, valueEnd, formats[i] ?? 0, key, plan, hits);
        if (r !== undefined) {
          touched[w] = 1;
          starts[w] = off;
          lengths[w] = len;
          replacements[w] = r;
          delta += (r === null ? 0 : r.length) - len;
          changed = true;
        }
      }
      if (++w === nw) break;
      next = work[w]!;
    }
    off = valueEnd;
  }
  if (!changed) return message;

  const out = Buffer.allocUnsafe(end + delta);
  let src = 0;
  let dst = 0;
  for (let j = 0; j < w; j++) {
    if (touched[j] === 0) continue;
    const at = starts[j]!;
    dst = copyBytes(message, src, at, out, dst);
    const r = replacements[j]!;
    replacements[j] = null;
    if (r === null) {
      out.writeInt32BE(-1, dst);
      dst += 4;
    } else {
      out.writeInt32BE(r.length, dst);
      dst = copyBytes(r, 0, r.length, out, dst + 4);
    }
    src = at + 4 + lengths[j]!;
  }
  copyBytes(message, src, end, out, dst);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}
