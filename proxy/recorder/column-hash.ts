// The chain hashes computed straight from Arrow column buffers: the canonical bytes of
// chain.ts (same definition) gathered from bytes already encoded, so neither the encoder nor a
// verifier encodes a string twice. RecordHasher (values) and this must agree: a test pins it.
import { hash as oneShotHash } from 'node:crypto';
import type { Data, Table } from 'apache-arrow';
import { COLUMNS } from './schema.js';

/** One column's buffers, as Arrow lays them out. */
export interface ColumnView {
  type: 0 | 1 | 2; // utf8 | hash (fixed 32 bytes) | int64/timestamp
  valid: Uint8Array | null;
  offsets: Int32Array | null;
  bytes: Uint8Array | null;
  /** int64 values as little-endian int32 pairs. */
  words: Int32Array | null;
}

const TYPES = COLUMNS.map(([, t]) => (t === 'utf8' ? 0 : t === 'hash' ? 1 : 2) as 0 | 1 | 2);
export const PREV_INDEX = COLUMNS.findIndex(([n]) => n === 'prev_hash');
export const HASH_INDEX = COLUMNS.findIndex(([n]) => n === 'hash');

export class ColumnHasher {
  private buf: Buffer = Buffer.allocUnsafe(64 * 1024);

  /**
   * Hash of record `i`, whose prev_hash is `prev` (the prev_hash column is not read: the chain
   * supplies it). Columns in schema order; the hash column is skipped.
   */
  hash(cols: ColumnView[], i: number, prev: Uint8Array): Buffer {
    let pos = 0;
    let buf: Buffer = this.buf;
    for (let c = 0; c < cols.length; c++) {
      if (c === HASH_INDEX) continue;
      if (c === PREV_INDEX) {
        if (pos + 33 > buf.length) buf = this.grow(pos, 33);
        buf[pos++] = 1;
        for (let k = 0; k < 32; k++) buf[pos + k] = prev[k]!;
        pos += 32;
        continue;
      }
      const col = cols[c]!;
      if (col.valid && (col.valid[i >> 3]! & (1 << (i & 7))) === 0) {
        if (pos + 1 > buf.length) buf = this.grow(pos, 1);
        buf[pos++] = 0;
        continue;
      }
      if (col.type === 0) {
        const a = col.offsets![i]!;
        const n = col.offsets![i + 1]! - a;
        if (pos + 5 + n > buf.length) buf = this.grow(pos, 5 + n);
        buf[pos] = 1;
        buf[pos + 1] = n >>> 24;
        buf[pos + 2] = (n >>> 16) & 0xff;
        buf[pos + 3] = (n >>> 8) & 0xff;
        buf[pos + 4] = n & 0xff;
        pos += 5;
        const bytes = col.bytes!;
        if (n <= 96) for (let k = 0; k < n; k++) buf[pos + k] = bytes[a + k]!;
        else buf.set(bytes.subarray(a, a + n), pos);
        pos += n;
      } else if (col.type === 1) {
        if (pos + 33 > buf.length) buf = this.grow(pos, 33);
        buf[pos++] = 1;
        const b = col.bytes!;
        for (let k = 0; k < 32; k++) buf[pos + k] = b[32 * i + k]!;
        pos += 32;
      } else {
        if (pos + 9 > buf.length) buf = this.grow(pos, 9);
        buf[pos++] = 1;
        const lo = col.words![2 * i]!;
        const hi = col.words![2 * i + 1]!;
        buf[pos] = hi >>> 24;
        buf[pos + 1] = (hi >>> 16) & 0xff;
        buf[pos + 2] = (hi >>> 8) & 0xff;
        buf[pos + 3] = hi & 0xff;
        buf[pos + 4] = lo >>> 24;
        buf[pos + 5] = (lo >>> 16) & 0xff;
        buf[pos + 6] = (lo >>> 8) & 0xff;
        buf[pos + 7] = lo & 0xff;
        pos += 8;
      }
    }
    return oneShotHash('sha256', buf.subarray(0, pos), 'buffer') as unknown as Buffer;
  }

  private grow(pos: number, need: number): Buffer {
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, pos + need));
    this.buf.copy(bigger, 0, 0, pos);
    this.buf = bigger;
    return bigger;
  }
}

/** Views of one record batch's columns (a decoded segment's batch), for verification. */
export function viewsOfBatch(children: readonly Data[]): ColumnView[] {
  return children.map((d, c) => {
    const type = TYPES[c]!;
    if (d.offset !== 0) throw new Error('sliced Arrow data is not supported here');
    const valid = d.nullCount > 0 ? (d.nullBitmap as Uint8Array) : null;
    if (type === 0) return { type, valid, offsets: d.valueOffsets as Int32Array, bytes: d.values as Uint8Array, words: null };
    if (type === 1) return { type, valid, offsets: null, bytes: d.values as Uint8Array, words: null };
    const v = d.values as BigInt64Array;
    return { type, valid, offsets: null, bytes: null, words: new Int32Array(v.buffer, v.byteOffset, v.length * 2) };
  });
}

/** Every record's recomputed hash and its stored prev_hash/hash, batch by batch. */
export function* recomputeHashes(table: Table): Generator<{ computed: Buffer; prev: Uint8Array; stored: Uint8Array }> {
  const hasher = new ColumnHasher();
  for (const batch of table.batches) {
    const children = batch.data.children;
    const views = viewsOfBatch(children);
    const prevBytes = views[PREV_INDEX]!.bytes!;
    const hashBytes = views[HASH_INDEX]!.bytes!;
    for (let i = 0; i < batch.numRows; i++) {
      const prev = prevBytes.subarray(32 * i, 32 * i + 32);
      yield { computed: hasher.hash(views, i, prev), prev, stored: hashBytes.subarray(32 * i, 32 * i + 32) };
    }
  }
}
