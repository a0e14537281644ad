// Builds Arrow record batches column by column from typed arrays (apache-arrow's per-value
// Builders manage ~0.1M rows/s; filling the buffers directly and calling makeData is several
// times faster: see FIELD-NOTES). Assigns each record its sequence number and chain hashes.
import { FixedSizeBinary, Int64, makeData, RecordBatch, Struct, Timestamp, TimeUnit, Utf8, type Data, type Schema } from 'apache-arrow';
import { ColumnHasher, HASH_INDEX, PREV_INDEX, type ColumnView } from './column-hash.js';
import { recordBatchMessage, type ColumnBody } from './batch-message.js';
import { COLUMNS, type ColumnType, type RecordInput } from './schema.js';

/** Where the chain stands: the last record written (seq 0 and the genesis hash before any). */
export interface ChainHead {
  seq: number;
  hash: Uint8Array;
}

interface Column {
  finish(length: number): Data;
  view(): ColumnView;
  /** The column as Arrow IPC lays it out: its null count and buffers (validity first, empty when no nulls). */
  body(length: number): ColumnBody;
  /** Empties the column for the next batch, keeping its buffers (see BatchColumns). */
  reset(): void;
}

const NO_BUFFER = new Uint8Array(0);
const bytesOf = (a: Int32Array, words: number) => new Uint8Array(a.buffer, a.byteOffset, 4 * words);

class Validity {
  bits: Uint8Array;
  nulls = 0;
  constructor(capacity: number) {
    this.bits = new Uint8Array((capacity >> 3) + 1);
  }
  set(i: number, valid: boolean): void {
    if (i >> 3 >= this.bits.length) this.bits = grow(this.bits, (i >> 3) + 1);
    if (valid) this.bits[i >> 3]! |= 1 << (i & 7);
    else this.nulls++;
  }
  bitmap(length: number): Uint8Array | undefined {
    return this.nulls ? this.bits.subarray(0, (length + 7) >> 3) : undefined;
  }
  reset(): void {
    this.bits.fill(0);
    this.nulls = 0;
  }
}

function grow<T extends Uint8Array | Int32Array>(a: T, need: number): T {
  const bigger = new (a.constructor as new (n: number) => T)(Math.max(a.length * 2, need));
  bigger.set(a);
  return bigger;
}

// Buffer#utf8Write skips Buffer#write's argument juggling: a third of the cost for short strings.
type Utf8Write = (this: Buffer, s: string, offset: number) => number;
const utf8Write: Utf8Write =
  (Buffer.prototype as unknown as { utf8Write?: Utf8Write }).utf8Write ??
  function (this: Buffer, s: string, offset: number) {
    return this.write(s, offset, 'utf8');
  };

/**
 * Writes s as UTF-8 at pos, returning the new end. Most recorded strings are short ASCII (ids,
 * names, roles, hashes): a plain loop writes them several times faster than a call into
 * Buffer's native UTF-8 encoder; anything else goes to the encoder.
 */
function writeString(data: Buffer, s: string, pos: number): number {
  const n = s.length;
  if (n <= 128) {
    let k = 0;
    for (; k < n; k++) {
      const ch = s.charCodeAt(k);
      if (ch >= 0x80) break;
      data[pos + k] = ch;
    }
    if (k === n) return pos + n;
  }
  return pos + utf8Write.call(data, s, pos);
}

class Utf8Column implements Column {
  private offsets: Int32Array;
  private data: Buffer;
  private end = 0;
  private last: string | null = null;
  private lastStart = 0;
  private lastBytes = 0;
  private readonly valid: Validity;
  constructor(capacity: number) {
    this.offsets = new Int32Array(capacity + 1);
    this.data = Buffer.allocUnsafe(Math.max(256, capacity * 16));
    this.valid = new Validity(capacity);
  }
  push(i: number, s: string | null | undefined): void {
    if (s === null || s === undefined) this.valid.set(i, false);
    else {
      this.valid.set(i, true);
      if (this.end + s.length * 3 > this.data.length) {
        const bigger = Buffer.allocUnsafe(Math.max(this.data.length * 2, this.end + s.length * 3));
        this.data.copy(bigger, 0, 0, this.end);
        this.data = bigger;
      }
      if (s === this.last) {
        // The previous record's value again (session fields, hashes): copy its bytes.
        const n = this.lastBytes;
        const d = this.data;
        const from = this.lastStart;
        const to = this.end;
        if (n <= 32) for (let k = 0; k < n; k++) d[to + k] = d[from + k]!;
        else d.copyWithin(to, from, from + n);
        this.lastStart = this.end;
        this.end += n;
      } else {
        const start = this.end;
        this.end = writeString(this.data, s, start);
        this.last = s;
        this.lastStart = start;
        this.lastBytes = this.end - start;
      }
    }
    if (i + 2 > this.offsets.length) this.offsets = grow(this.offsets, i + 2);
    this.offsets[i + 1] = this.end;
  }
  view(): ColumnView {
    return { type: 0, valid: this.valid.nulls ? this.valid.bits : null, offsets: this.offsets, bytes: this.data, words: null };
  }
  reset(): void {
    this.end = 0;
    this.last = null;
    this.valid.reset();
  }
  body(length: number): ColumnBody {
    return {
      nullCount: this.valid.nulls,
      buffers: [this.valid.bitmap(length) ?? NO_BUFFER, bytesOf(this.offsets, length + 1), new Uint8Array(this.data.buffer, this.data.byteOffset, this.end)],
    };
  }
  finish(length: number): Data {
    return makeData({
      type: new Utf8(),
      length,
      nullCount: this.valid.nulls,
      nullBitmap: this.valid.bitmap(length),
      valueOffsets: this.offsets.subarray(0, length + 1),
      data: new Uint8Array(this.data.buffer, this.data.byteOffset, this.end),
    });
  }
}

class Int64Column implements Column {
  // Two int32 words per value (little-endian): no BigInt per value.
  private words: Int32Array;
  private readonly valid: Validity;
  constructor(
    private readonly timestamp: boolean,
    capacity: number,
  ) {
    this.words = new Int32Array(2 * capacity);
    this.valid = new Validity(capacity);
  }
  push(i: number, n: number | null | undefined): void {
    if (2 * i + 2 > this.words.length) this.words = grow(this.words, 2 * i + 2);
    if (n === null || n === undefined) {
      this.valid.set(i, false);
      this.words[2 * i] = 0; // a reused column must not carry an earlier batch's value here
      this.words[2 * i + 1] = 0;
      return;
    }
    this.valid.set(i, true);
    this.words[2 * i] = n >>> 0;
    this.words[2 * i + 1] = Math.floor(n / 0x1_0000_0000);
  }
  view(): ColumnView {
    return { type: 2, valid: this.valid.nulls ? this.valid.bits : null, offsets: null, bytes: null, words: this.words };
  }
  body(length: number): ColumnBody {
    return { nullCount: this.valid.nulls, buffers: [this.valid.bitmap(length) ?? NO_BUFFER, bytesOf(this.words, 2 * length)] };
  }
  reset(): void {
    this.valid.reset();
  }
  finish(length: number): Data {
    const data = new BigInt64Array(this.words.buffer, 0, length);
    const common = { length, nullCount: this.valid.nulls, nullBitmap: this.valid.bitmap(length), data };
    return this.timestamp
      ? makeData({ type: new Timestamp(TimeUnit.MICROSECOND, 'UTC'), ...common })
      : makeData({ type: new Int64(), ...common });
  }
}

class HashColumn implements Column {
  private data: Uint8Array;
  constructor(capacity: number) {
    this.data = new Uint8Array(32 * capacity);
  }
  push(i: number, h: Uint8Array): void {
    if (32 * (i + 1) > this.data.length) this.data = grow(this.data, 32 * (i + 1));
    this.data.set(h, 32 * i);
  }
  reserve(n: number): void {
    if (32 * n > this.data.length) this.data = grow(this.data, 32 * n);
  }
  view(): ColumnView {
    return { type: 1, valid: null, offsets: null, bytes: this.data, words: null };
  }
  body(length: number): ColumnBody {
    return { nullCount: 0, buffers: [NO_BUFFER, this.data.subarray(0, 32 * length)] };
  }
  reset(): void {} // every row's hash and prev_hash are written
  finish(length: number): Data {
    return makeData({ type: new FixedSizeBinary(32), length, data: this.data.subarray(0, 32 * length) });
  }
}

const makeColumn = (t: ColumnType, n: number) =>
  t === 'utf8' ? new Utf8Column(n) : t === 'int64' ? new Int64Column(false, n) : t === 'timestamp' ? new Int64Column(true, n) : new HashColumn(n);

/**
 * The columns of a batch, reusable: the recorder encodes every flush into the same buffers
 * (their bytes are copied into the message), so a flush of a few records allocates almost
 * nothing. A batch handed to apache-arrow (encodeBatch) keeps its buffers: fresh columns.
 */
export class BatchColumns {
  readonly columns: Column[];
  constructor(capacity = 64) {
    this.columns = COLUMNS.map(([, t]) => makeColumn(t, capacity));
  }
  reset(): void {
    for (const c of this.columns) c.reset();
  }
}

export interface EncodedBatch {
  batch: RecordBatch;
  head: ChainHead;
}

/**
 * Encodes records after `head`, stamping seq, gateway_id, ts (µs since epoch, if absent) and the
 * chain hashes. Strings are encoded once, into their columns; the hashes are then computed
 * from the column buffers (column-hash.ts).
 */
export function encodeBatch(schema: Schema, gatewayId: string, head: ChainHead, inputs: readonly RecordInput[], hasher = new ColumnHasher()): EncodedBatch {
  const filled = fillColumns(new BatchColumns(inputs.length).columns, gatewayId, head, inputs, hasher);
  const n = inputs.length;
  const children = filled.columns.map((c) => c.finish(n));
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children }));
  return { batch, head: filled.head };
}

/**
 * The same batch as encodeBatch, as the bytes of its Arrow IPC stream message (what the
 * recorder appends to a segment), written straight from the column buffers (batch-message.ts).
 */
export function encodeBatchMessage(
  gatewayId: string,
  head: ChainHead,
  inputs: readonly RecordInput[],
  hasher = new ColumnHasher(),
  reuse = new BatchColumns(inputs.length),
): { bytes: Buffer; head: ChainHead } {
  reuse.reset();
  const filled = fillColumns(reuse.columns, gatewayId, head, inputs, hasher);
  const n = inputs.length;
  return { bytes: recordBatchMessage(n, filled.columns.map((c) => c.body(n))), head: filled.head };
}

type Filler = (columns: Column[], inputs: readonly RecordInput[], n: number, firstSeq: number, gatewayId: string, now: number) => void;

/**
 * The column-filling loop, generated once from COLUMNS: one pass over the records, each field
 * read at its own property-access site. A loop over column names (record[name]) leaves V8 only
 * its megamorphic lookup for every field, which was most of the encoding time.
 */
function makeFiller(): Filler {
  const body: string[] = [];
  const decl = COLUMNS.map((_, c) => `const c${c} = columns[${c}];`);
  COLUMNS.forEach(([name, type], c) => {
    if (type === 'hash') return; // reserved below, filled by the chain
    const field = `r[${JSON.stringify(name)}]`;
    if (name === 'seq') body.push(`c${c}.push(i, firstSeq + i);`);
    else if (name === 'gateway_id') body.push(`c${c}.push(i, gatewayId);`);
    else if (name === 'ts') body.push(`c${c}.push(i, ${field} ?? now);`);
    else body.push(`c${c}.push(i, ${field});`);
  });
  const reserve = COLUMNS.flatMap(([, type], c) => (type === 'hash' ? [`c${c}.reserve(n);`] : []));
  const source = [...decl, ...reserve, 'for (let i = 0; i < n; i++) {', '  const r = inputs[i];', ...body.map((l) => `  ${l}`), '}'].join('\n');
  return new Function('columns', 'inputs', 'n', 'firstSeq', 'gatewayId', 'now', source) as Filler;
}

const fill = makeFiller();

function fillColumns(columns: Column[], gatewayId: string, head: ChainHead, inputs: readonly RecordInput[], hasher: ColumnHasher): { columns: Column[]; head: ChainHead } {
  const n = inputs.length;
  fill(columns, inputs, n, head.seq + 1, gatewayId, Date.now() * 1000);
  const views = columns.map((c) => c.view());
  const prevCol = views[PREV_INDEX]!.bytes!;
  const hashCol = views[HASH_INDEX]!.bytes!;
  let prev = head.hash;
  for (let i = 0; i < n; i++) {
    prevCol.set(prev, 32 * i);
    const h = hasher.hash(views, i, prev);
    hashCol.set(h, 32 * i);
    prev = h;
  }
  return { columns, head: { seq: head.seq + n, hash: prev } };
}
