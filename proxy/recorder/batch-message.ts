// One record batch as an Arrow IPC stream message, written straight from column buffers:
// continuation marker, metadata length, the flatbuffer Message, then the body buffers, each
// padded to 8 bytes: the bytes apache-arrow's RecordBatchWriter writes (a test pins that).
// Its writer costs ~100 µs per batch whatever the batch's size (Data objects, visitors, 64-bit
// BigInts in the flatbuffer builder); a strict recorder flushes a few records at a time, so that
// fixed cost was most of its work. Here the metadata comes from a template built once per
// column layout by apache-arrow's own encoder, with its numbers patched in.
import { Message } from 'apache-arrow';
import { BufferRegion, FieldNode, RecordBatch as RecordBatchHeader } from 'apache-arrow/ipc/metadata/message';

/** One column as IPC lays it out: its null count and its buffers in the type's order. */
export interface ColumnBody {
  nullCount: number;
  buffers: Uint8Array[];
}

const pad8 = (n: number) => (n + 7) & ~7;

/** The message's bytes. Padding is zeroed: a segment must not carry stray memory. */
export function recordBatchMessage(length: number, columns: readonly ColumnBody[]): Buffer {
  const numbers: number[] = []; // in template order: each node's length and null count, each buffer's offset and length
  let bodyLength = 0;
  for (const c of columns) numbers.push(length, c.nullCount);
  for (const c of columns) {
    for (const b of c.buffers) {
      // Lengths include the padding, as apache-arrow's writer records them.
      numbers.push(bodyLength, pad8(b.byteLength));
      bodyLength += pad8(b.byteLength);
    }
  }
  const meta = metadata(columns, length, bodyLength, numbers);
  const metaLength = pad8(8 + meta.byteLength) - 8; // the prefix and the metadata end 8-aligned
  const out = Buffer.alloc(8 + metaLength + bodyLength);
  out.writeInt32LE(-1, 0);
  out.writeInt32LE(metaLength, 4);
  out.set(meta, 8);
  let pos = 8 + metaLength;
  for (const c of columns) {
    for (const b of c.buffers) {
      out.set(b, pos);
      pos += pad8(b.byteLength);
    }
  }
  return out;
}

interface Template {
  bytes: Uint8Array;
  /** Where each of `numbers` goes, then the batch length, then the body length. */
  at: number[];
}

const templates = new Map<string, Template | null>();

function metadata(columns: readonly ColumnBody[], length: number, bodyLength: number, numbers: number[]): Uint8Array {
  const key = columns.map((c) => c.buffers.length).join(',');
  let t = templates.get(key);
  if (t === undefined) templates.set(key, (t = buildTemplate(columns.map((c) => c.buffers.length))));
  // Zero is a field's default and flatbuffers omit it: the layout would differ from the template's.
  if (t === null || length === 0 || bodyLength === 0) return encodeWithArrow(columns.length, length, bodyLength, numbers);
  const out = Buffer.from(t.bytes);
  const put = (value: number, p: number) => {
    out.writeUInt32LE(value >>> 0, p);
    out.writeUInt32LE(Math.floor(value / 0x1_0000_0000), p + 4);
  };
  for (let i = 0; i < numbers.length; i++) put(numbers[i]!, t.at[i]!);
  put(length, t.at[numbers.length]!);
  put(bodyLength, t.at[numbers.length + 1]!);
  return out;
}

function encodeWithArrow(nodeCount: number, length: number, bodyLength: number, numbers: number[]): Uint8Array {
  const nodes: FieldNode[] = [];
  const regions: BufferRegion[] = [];
  for (let i = 0; i < 2 * nodeCount; i += 2) nodes.push(new FieldNode(numbers[i]!, numbers[i + 1]!));
  for (let i = 2 * nodeCount; i < numbers.length; i += 2) regions.push(new BufferRegion(numbers[i]!, numbers[i + 1]!));
  return Message.encode(Message.from(new RecordBatchHeader(length, nodes, regions, null), bodyLength));
}

/** Encodes the layout with a distinct marker for every number and finds where each landed (null: not found once each). */
export function buildTemplate(buffersPerColumn: number[]): Template | null {
  const MARK = 0x5a5a; // in the high word: marker values stay exact doubles (< 2^53)
  const count = 2 * buffersPerColumn.length + 2 * buffersPerColumn.reduce((a, b) => a + b, 0) + 2;
  const markers = Array.from({ length: count }, (_, k) => MARK * 0x1_0000_0000 + k + 1);
  const bytes = encodeWithArrow(buffersPerColumn.length, markers[count - 2]!, markers[count - 1]!, markers.slice(0, count - 2));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = new Array<number>(count).fill(-1);
  for (let p = 0; p + 8 <= bytes.length; p += 4) {
    if (view.getUint32(p + 4, true) !== MARK) continue;
    const k = view.getUint32(p, true) - 1;
    if (k < 0 || k >= count || at[k] !== -1) return null;
    at[k] = p;
  }
  return at.includes(-1) ? null : { bytes, at };
}
