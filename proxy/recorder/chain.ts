// The hash chain. A record's hash is SHA-256 over its canonical bytes: every column but `hash`,
// in schema order, each as 0x00 (null) or 0x01 + value (utf8: u32 length + bytes; int64 and
// timestamp: 8 bytes big-endian; prev_hash: its 32 bytes). `prev_hash` is the hash of the record
// before it (32 zero bytes for a gateway's first record), so changing, removing or reordering any
// record breaks every hash after it. Independent of the Arrow encoding: a verifier recomputes it
// from the values alone.
import { hash as oneShotHash } from 'node:crypto';
import { COLUMNS, type ColumnName } from './schema.js';

export const GENESIS_HASH = new Uint8Array(32);

type Values = { readonly [C in ColumnName]?: string | number | Uint8Array | null };

// Column names and type codes as flat arrays: the loop below runs once per field per record.
const HASHED = COLUMNS.filter(([name]) => name !== 'hash');
const NAMES = HASHED.map(([name]) => name);
const TYPES = HASHED.map(([, t]) => (t === 'utf8' ? 0 : t === 'hash' ? 1 : 2));

/** Reusable scratch space: canonical bytes are built here, then hashed. */
export class RecordHasher {
  private buf = Buffer.allocUnsafe(64 * 1024);

  /** `stamp` supplies the columns the recorder assigns (seq, gateway_id, ts, prev_hash), read before `values`. */
  hash(values: Values, stamp?: Values): Buffer {
    let pos = 0;
    for (let f = 0; f < NAMES.length; f++) {
      const name = NAMES[f]!;
      const v = stamp && name in stamp ? stamp[name] : values[name];
      if (v === null || v === undefined) {
        pos = this.ensure(pos, 1);
        this.buf[pos++] = 0;
        continue;
      }
      const type = TYPES[f];
      if (type === 0) {
        const s = v as string;
        pos = this.ensure(pos, 5 + s.length * 3);
        this.buf[pos] = 1;
        const n = this.buf.write(s, pos + 5, 'utf8');
        this.buf.writeUInt32BE(n, pos + 1);
        pos += 5 + n;
      } else if (type === 1) {
        pos = this.ensure(pos, 33);
        this.buf[pos++] = 1;
        this.buf.set(v as Uint8Array, pos);
        pos += 32;
      } else {
        pos = this.ensure(pos, 9);
        this.buf[pos++] = 1;
        const n = v as number;
        this.buf.writeUInt32BE(Math.floor(n / 0x1_0000_0000) >>> 0, pos);
        this.buf.writeUInt32BE(n >>> 0, pos + 4);
        pos += 8;
      }
    }
    return oneShotHash('sha256', this.buf.subarray(0, pos), 'buffer') as unknown as Buffer;
  }

  /** Grows the scratch buffer (keeping what is written) so `need` more bytes fit at `pos`. */
  private ensure(pos: number, need: number): number {
    if (pos + need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, pos + need));
      this.buf.copy(bigger, 0, 0, pos);
      this.buf = bigger;
    }
    return pos;
  }
}

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
