// Writes a verified segment's records (an Arrow table in the record schema) as an uncompressed
// Parquet file that DuckDB's read_parquet lands in one INSERT. This is the collector's fast
// path: the Arrow buffers already hold the values in Parquet's layout (little-endian int64,
// concatenated UTF-8 bytes, 32-byte hashes, LSB-first validity bits), so a column is mostly
// copied, never decoded to JS strings or handed to DuckDB one value at a time (the appender's
// per-value calls, or even a data chunk's per-string calls, cost more than DuckDB's own
// storage work: docs/evidence.md, "How records are landed").
//
// Only what DuckDB needs is written: every column OPTIONAL (definition levels, bit width 1),
// one uncompressed v1 data page per column chunk, a row group per ~32k rows (DuckDB reads
// row groups in parallel). Encodings: INT64 and FIXED_LEN_BYTE_ARRAY PLAIN; strings
// DELTA_LENGTH_BYTE_ARRAY (lengths delta-bit-packed, then the bytes exactly as Arrow holds
// them). Timestamps are written as plain INT64 microseconds; the landing SQL turns them into
// TIMESTAMPTZ with make_timestamptz.
import { closeSync, openSync, writeSync, writevSync } from 'node:fs';
import type { Data, Table } from 'apache-arrow';
import { COLUMNS, type ColumnType } from '../proxy/recorder/schema.js';

/** Rows per row group (at batch boundaries, so a group may hold a little more). */
const ROW_GROUP_ROWS = 32_768;

// Parquet enums.
const TYPE_INT64 = 2;
const TYPE_BYTE_ARRAY = 6;
const TYPE_FIXED = 7;
const ENC_PLAIN = 0;
const ENC_RLE = 3;
const ENC_DELTA_LENGTH_BYTE_ARRAY = 6;
const CONVERTED_UTF8 = 0;
const REPETITION_REQUIRED = 0;
const REPETITION_OPTIONAL = 1;
const PAGE_DATA = 0;
const CODEC_UNCOMPRESSED = 0;

// Thrift compact protocol types.
const CT_I32 = 5;
const CT_I64 = 6;
const CT_BINARY = 8;
const CT_LIST = 9;
const CT_STRUCT = 12;

/** A growable byte buffer with the varint and Thrift compact-protocol writers Parquet needs. */
class Bytes {
  buf: Buffer;
  pos = 0;
  private lastField: number[] = [0];
  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  u32le(n: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(n >>> 0, this.pos);
    this.pos += 4;
  }
  /** Unsigned LEB128 of a non-negative integer up to 2^53. */
  uvarint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }
  /** Zigzag then LEB128, for integers within ±2^52. */
  zigzag(n: number): void {
    this.uvarint(n >= 0 ? n * 2 : -n * 2 - 1);
  }
  done(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  // Thrift compact protocol: structs are fields (delta-coded ids) ended by a zero byte.
  field(type: number, id: number): void {
    const last = this.lastField[this.lastField.length - 1]!;
    const delta = id - last;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(id);
    }
    this.lastField[this.lastField.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.field(CT_I32, id);
    this.zigzag(v);
  }
  i64(id: number, v: number): void {
    this.field(CT_I64, id);
    this.zigzag(v);
  }
  string(id: number, s: string): void {
    this.field(CT_BINARY, id);
    const b = Buffer.from(s, 'utf8');
    this.uvarint(b.length);
    this.bytes(b);
  }
  beginStruct(id: number | null): void {
    if (id !== null) this.field(CT_STRUCT, id);
    this.lastField.push(0);
  }
  endStruct(): void {
    this.byte(0);
    this.lastField.pop();
  }
  list(id: number, elemType: number, size: number): void {
    this.field(CT_LIST, id);
    if (size < 15) this.byte((size << 4) | elemType);
    else {
      this.byte(0xf0 | elemType);
      this.uvarint(size);
    }
  }
}

/** One column's values over a row group: which rows are valid, and the non-null values. */
interface ColumnSlice {
  rows: number;
  nulls: number;
  /** LSB-first validity bits of the row group (only when nulls > 0). */
  valid: Uint8Array | null;
}

function validityOf(datas: Data[], rows: number): ColumnSlice {
  let nulls = 0;
  for (const d of datas) nulls += d.nullCount;
  if (nulls === 0) return { rows, nulls, valid: null };
  const valid = new Uint8Array((rows + 7) >> 3);
  let row = 0;
  for (const d of datas) {
    if (d.nullCount === 0) setBits(valid, row, d.length);
    else copyBits(valid, row, d.nullBitmap!, d.offset, d.length);
    row += d.length;
  }
  return { rows, nulls, valid };
}

/** Sets bits [at, at + n) of `out` (zeroed before). */
function setBits(out: Uint8Array, at: number, n: number): void {
  let i = at;
  const end = at + n;
  for (; i < end && (i & 7) !== 0; i++) out[i >> 3]! |= 1 << (i & 7);
  for (; i + 8 <= end; i += 8) out[i >> 3] = 0xff;
  for (; i < end; i++) out[i >> 3]! |= 1 << (i & 7);
}

/** ORs bits [from, from + n) of `src` into `out` at bit `at` (zeroed before). */
function copyBits(out: Uint8Array, at: number, src: Uint8Array, from: number, n: number): void {
  let i = 0;
  // Bit by bit until the source is byte-aligned, then whole source bytes shifted into place:
  // batches rarely hold a multiple of 8 rows, so the target is rarely aligned too.
  for (; i < n && ((from + i) & 7) !== 0; i++) {
    if ((src[(from + i) >> 3]! & (1 << ((from + i) & 7))) !== 0) out[(at + i) >> 3]! |= 1 << ((at + i) & 7);
  }
  const shift = (at + i) & 7;
  for (; i + 8 <= n; i += 8) {
    const b = src[(from + i) >> 3]!;
    const o = (at + i) >> 3;
    if (shift === 0) out[o] = b;
    else {
      out[o]! |= (b << shift) & 0xff;
      out[o + 1]! |= b >> (8 - shift);
    }
  }
  for (; i < n; i++) {
    if ((src[(from + i) >> 3]! & (1 << ((from + i) & 7))) !== 0) out[(at + i) >> 3]! |= 1 << ((at + i) & 7);
  }
}

const isValid = (d: Data, i: number): boolean => {
  if (d.nullCount === 0) return true;
  const k = d.offset + i;
  return (d.nullBitmap![k >> 3]! & (1 << (k & 7))) !== 0;
};

/** Definition levels (bit width 1) in the RLE/bit-packed hybrid, with their 4-byte length prefix. */
function writeDefinitionLevels(out: Bytes, s: ColumnSlice): void {
  const start = out.pos;
  out.u32le(0);
  if (!s.valid) {
    out.uvarint(s.rows * 2); // one RLE run of 1s
    out.byte(1);
  } else {
    const groups = (s.rows + 7) >> 3;
    out.uvarint(groups * 2 + 1); // one bit-packed run: the validity bitmap as it is
    out.bytes(s.valid);
  }
  out.buf.writeUInt32LE(out.pos - start - 4, start);
}

/** DELTA_BINARY_PACKED (encoding 5): blocks of 128 deltas in 4 miniblocks of 32, each bit-packed at its own width. */
function writeDeltaBinaryPacked(out: Bytes, values: Int32Array, count: number): void {
  out.uvarint(128);
  out.uvarint(4);
  out.uvarint(count);
  out.zigzag(count > 0 ? values[0]! : 0);
  const deltas = scratchDeltas;
  for (let start = 1; start < count; start += 128) {
    const n = Math.min(128, count - start);
    let min = 0x7fffffff;
    for (let i = 0; i < n; i++) {
      // Two int32 lengths differ by less than 2^31: the difference is an int32.
      const d = (values[start + i]! - values[start + i - 1]!) | 0;
      deltas[i] = d;
      if (d < min) min = d;
    }
    out.zigzag(min);
    const widths = [0, 0, 0, 0];
    for (let m = 0; m * 32 < n; m++) {
      let max = 0;
      const end = Math.min(n, m * 32 + 32);
      for (let i = m * 32; i < end; i++) {
        const v = deltas[i]! - min; // 0 ≤ v < 2^32, exact as a double
        if (v > max) max = v;
      }
      widths[m] = max === 0 ? 0 : max >= 2 ** 31 ? 32 : 32 - Math.clz32(max);
    }
    out.ensure(4);
    for (const w of widths) out.buf[out.pos++] = w;
    for (let m = 0; m * 32 < n; m++) {
      const w = widths[m]!;
      if (w === 0) continue;
      out.ensure(4 * w);
      // Pack 32 values LSB-first; the last miniblock is padded with zeros.
      const buf = out.buf;
      let pos = out.pos;
      if (w <= 24) {
        // acc holds fewer than 8 + 24 bits: plain int32 arithmetic.
        let acc = 0;
        let bits = 0;
        for (let i = m * 32; i < m * 32 + 32; i++) {
          const v = i < n ? deltas[i]! - min : 0;
          acc |= v << bits;
          bits += w;
          while (bits >= 8) {
            buf[pos++] = acc & 0xff;
            acc >>>= 8;
            bits -= 8;
          }
        }
      } else {
        let acc = 0;
        let bits = 0;
        for (let i = m * 32; i < m * 32 + 32; i++) {
          const v = i < n ? deltas[i]! - min : 0;
          acc += v * 2 ** bits;
          bits += w;
          while (bits >= 8) {
            buf[pos++] = acc % 256;
            acc = Math.floor(acc / 256);
            bits -= 8;
          }
        }
      }
      out.pos = pos;
    }
  }
}

const scratchDeltas = new Int32Array(128);

/** Int64 values of the non-null rows: Arrow's buffer itself when a batch has no nulls. */
function int64Parts(parts: Uint8Array[], datas: Data[]): void {
  for (const d of datas) {
    const v = d.values as BigInt64Array;
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    if (d.nullCount === 0) {
      parts.push(bytes.subarray(8 * d.offset, 8 * (d.offset + d.length)));
      continue;
    }
    // Word by word (an int64 as two int32s): no per-value views.
    const words = new Int32Array(v.buffer, v.byteOffset, 2 * v.length);
    const packed = new Int32Array(2 * (d.length - d.nullCount));
    const bm = d.nullBitmap!;
    let o = 0;
    for (let i = 0; i < d.length; i++) {
      const k = d.offset + i;
      if ((bm[k >> 3]! & (1 << (k & 7))) === 0) continue;
      packed[o++] = words[2 * k]!;
      packed[o++] = words[2 * k + 1]!;
    }
    parts.push(new Uint8Array(packed.buffer, 0, 4 * o));
  }
}

function fixedParts(parts: Uint8Array[], datas: Data[], width: number): void {
  for (const d of datas) {
    const v = d.values as Uint8Array;
    if (d.nullCount === 0) {
      parts.push(v.subarray(width * d.offset, width * (d.offset + d.length)));
      continue;
    }
    for (let i = 0; i < d.length; i++) if (isValid(d, i)) parts.push(v.subarray(width * (d.offset + i), width * (d.offset + i + 1)));
  }
}

/** DELTA_LENGTH_BYTE_ARRAY: the lengths (delta-bit-packed into `lengthsOut`), then the bytes. */
function stringParts(parts: Uint8Array[], lengthsOut: Bytes, datas: Data[], s: ColumnSlice): void {
  const count = s.rows - s.nulls;
  const lengths = count <= scratchLengths.length ? scratchLengths : (scratchLengths = new Int32Array(count * 2));
  let k = 0;
  const data: Uint8Array[] = [];
  for (const d of datas) {
    const off = d.valueOffsets as Int32Array;
    const v = d.values as Uint8Array;
    let sum = 0;
    if (d.nullCount === 0) {
      for (let i = d.offset; i < d.offset + d.length; i++) lengths[k++] = off[i + 1]! - off[i]!;
      sum = off[d.offset + d.length]! - off[d.offset]!;
    } else {
      const bm = d.nullBitmap!;
      for (let i = d.offset; i < d.offset + d.length; i++) {
        if ((bm[i >> 3]! & (1 << (i & 7))) === 0) continue;
        const len = off[i + 1]! - off[i]!;
        lengths[k++] = len;
        sum += len;
      }
    }
    // Arrow gives a null slot an empty range (the recorder does); a file that does not is
    // taken value by value rather than trusted.
    if (sum === off[d.offset + d.length]! - off[d.offset]!) data.push(v.subarray(off[d.offset]!, off[d.offset + d.length]!));
    else for (let i = 0; i < d.length; i++) if (isValid(d, i)) data.push(v.subarray(off[d.offset + i]!, off[d.offset + i + 1]!));
  }
  writeDeltaBinaryPacked(lengthsOut, lengths, count);
  parts.push(lengthsOut.done());
  for (const p of data) parts.push(p);
}

let scratchLengths = new Int32Array(1 << 15);

interface ChunkMeta {
  name: string;
  type: number;
  encodings: number[];
  values: number;
  offset: number;
  size: number;
}

function physicalType(t: ColumnType): number {
  return t === 'utf8' ? TYPE_BYTE_ARRAY : t === 'hash' ? TYPE_FIXED : TYPE_INT64;
}

/** Where the encoded parts go: in order, each written as it comes (views into Arrow's buffers). */
export type ParquetSink = (parts: readonly Uint8Array[]) => void;

const totalLength = (parts: readonly Uint8Array[]): number => parts.reduce((n, p) => n + p.length, 0);

/**
 * Encodes the table as a Parquet file, handing its bytes to `sink` piece by piece: string and
 * hash columns go out as views of the Arrow buffers, so nothing big is copied or allocated.
 */
export function writeSegmentParquet(table: Table, sink: ParquetSink): { bytes: number; rowGroups: number } {
  let offset = 0;
  const emit = (parts: readonly Uint8Array[]) => {
    sink(parts);
    offset += totalLength(parts);
  };
  emit([MAGIC]);
  const rowGroups: { rows: number; chunks: ChunkMeta[] }[] = [];
  const batches = table.batches;
  const levels = new Bytes(1 << 12);
  const lengths = new Bytes(1 << 16);
  const header = new Bytes(256);
  for (let b = 0; b < batches.length; ) {
    const group = [];
    let rows = 0;
    while (b < batches.length && (rows === 0 || rows + batches[b]!.numRows <= ROW_GROUP_ROWS)) {
      rows += batches[b]!.numRows;
      group.push(batches[b++]!);
    }
    if (rows === 0) continue;
    const chunks: ChunkMeta[] = [];
    for (const [name, type] of COLUMNS) {
      const datas = group.map((batch) => batch.getChild(name)!.data[0]!);
      const slice = validityOf(datas, rows);
      levels.pos = 0;
      lengths.pos = 0;
      writeDefinitionLevels(levels, slice);
      const body: Uint8Array[] = [levels.done()];
      if (type === 'utf8') stringParts(body, lengths, datas, slice);
      else if (type === 'hash') fixedParts(body, datas, 32);
      else int64Parts(body, datas);
      const encoding = type === 'utf8' ? ENC_DELTA_LENGTH_BYTE_ARRAY : ENC_PLAIN;
      const size = totalLength(body);
      // PageHeader { type, uncompressed_page_size, compressed_page_size, data_page_header }
      header.pos = 0;
      header.beginStruct(null);
      header.i32(1, PAGE_DATA);
      header.i32(2, size);
      header.i32(3, size);
      header.beginStruct(5); // DataPageHeader { num_values, encoding, definition_level_encoding, repetition_level_encoding }
      header.i32(1, rows);
      header.i32(2, encoding);
      header.i32(3, ENC_RLE);
      header.i32(4, ENC_RLE);
      header.endStruct();
      header.endStruct();
      const start = offset;
      emit([header.done(), ...body]);
      chunks.push({ name, type: physicalType(type), encodings: [encoding, ENC_RLE], values: rows, offset: start, size: offset - start });
    }
    rowGroups.push({ rows, chunks });
  }
  const meta = fileMetaData(table.numRows, rowGroups);
  const tail = Buffer.allocUnsafe(4);
  tail.writeUInt32LE(meta.length, 0);
  emit([meta, tail, MAGIC]);
  return { bytes: offset, rowGroups: rowGroups.length };
}

const MAGIC = Buffer.from('PAR1');

/** FileMetaData { version, schema, num_rows, row_groups, created_by }. */
function fileMetaData(numRows: number, rowGroups: { rows: number; chunks: ChunkMeta[] }[]): Buffer {
  const meta = new Bytes(4096);
  meta.beginStruct(null);
  meta.i32(1, 1);
  meta.list(2, CT_STRUCT, COLUMNS.length + 1);
  meta.beginStruct(null); // the root
  meta.i32(3, REPETITION_REQUIRED);
  meta.string(4, 'schema');
  meta.i32(5, COLUMNS.length);
  meta.endStruct();
  for (const [name, type] of COLUMNS) {
    meta.beginStruct(null); // SchemaElement { type, type_length, repetition_type, name, converted_type }
    meta.i32(1, physicalType(type));
    if (type === 'hash') meta.i32(2, 32);
    meta.i32(3, REPETITION_OPTIONAL);
    meta.string(4, name);
    if (type === 'utf8') meta.i32(6, CONVERTED_UTF8);
    meta.endStruct();
  }
  meta.i64(3, numRows);
  meta.list(4, CT_STRUCT, rowGroups.length);
  for (const rg of rowGroups) {
    meta.beginStruct(null); // RowGroup { columns, total_byte_size, num_rows }
    meta.list(1, CT_STRUCT, rg.chunks.length);
    for (const c of rg.chunks) {
      meta.beginStruct(null); // ColumnChunk { file_offset, meta_data }
      meta.i64(2, c.offset);
      meta.beginStruct(3); // ColumnMetaData
      meta.i32(1, c.type);
      meta.list(2, CT_I32, c.encodings.length);
      for (const e of c.encodings) meta.zigzag(e);
      meta.list(3, CT_BINARY, 1);
      const nameBytes = Buffer.from(c.name, 'utf8');
      meta.uvarint(nameBytes.length);
      meta.bytes(nameBytes);
      meta.i32(4, CODEC_UNCOMPRESSED);
      meta.i64(5, c.values);
      meta.i64(6, c.size);
      meta.i64(7, c.size);
      meta.i64(9, c.offset);
      meta.endStruct();
      meta.endStruct();
    }
    meta.i64(2, rg.chunks.reduce((n, c) => n + c.size, 0));
    meta.i64(3, rg.rows);
    meta.endStruct();
  }
  meta.string(6, 'auditgate collector');
  meta.endStruct();
  return Buffer.from(meta.done());
}

/** Writes the table as a Parquet file at `path` (created; it must not exist). */
export function writeSegmentParquetFile(table: Table, path: string): { bytes: number; rowGroups: number } {
  const fd = openSync(path, 'wx', 0o600);
  try {
    return writeSegmentParquet(table, (parts) => {
      // writev takes at most IOV_MAX (1024) buffers at a time.
      for (let i = 0; i < parts.length; i += 512) {
        const batch = parts.slice(i, i + 512) as Uint8Array[];
        const n = writevSync(fd, batch);
        const want = totalLength(batch);
        // A short write (rare on files) goes on from where it stopped.
        if (n < want) {
          const rest = Buffer.concat(batch).subarray(n);
          for (let done = 0; done < rest.length; ) done += writeSync(fd, rest, done);
        }
      }
    });
  } finally {
    closeSync(fd);
  }
}
