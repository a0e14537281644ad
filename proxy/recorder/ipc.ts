// Arrow IPC stream framing for segments. The writer hands back each batch's bytes at once (so
// the segment writer controls write and fsync); the framing walker finds where complete
// messages end, so a torn tail (a crash mid-write) can be cut off at the last whole batch.
import { AsyncByteQueue, Message, MessageHeader, RecordBatchStreamWriter, type RecordBatch, type Schema } from 'apache-arrow';

/** Collects what the writer emits; drained after every write (toUint8Array(true) would not drain). */
class Collector extends AsyncByteQueue {
  chunks: Uint8Array[] = [];
  override write(value: Uint8Array): void {
    if (value.byteLength) this.chunks.push(value);
  }
  take(): Buffer {
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    return out;
  }
}

/** End-of-stream marker: continuation token and a zero-length message. */
export const EOS = Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

export class StreamEncoder {
  private readonly sink = new Collector();
  private readonly writer = new RecordBatchStreamWriter({ autoDestroy: false });
  private started = false;

  constructor(schema: Schema) {
    this.writer.reset(this.sink as never, schema);
  }

  /** Bytes for this batch; the first call also carries the schema message. */
  encode(batch: RecordBatch): Buffer {
    this.started = true;
    this.writer.write(batch);
    return this.sink.take();
  }

  /** The schema message alone (a fresh segment starts with it). */
  header(): Buffer {
    if (this.started) throw new Error('header() after encode()');
    return this.sink.take();
  }
}

export interface Framing {
  /** Byte offset just past the last complete message (schema or record batch). */
  end: number;
  batches: number;
  /** True when the stream ends with the EOS marker. */
  closed: boolean;
  /** True when bytes follow the last complete message (a torn write) or the framing is invalid. */
  torn: boolean;
}

/** Walks the message framing without decoding the batches. */
export function walkFraming(bytes: Uint8Array): Framing {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let batches = 0;
  let sawSchema = false;
  while (pos + 8 <= bytes.length) {
    if (view.getInt32(pos, true) !== -1) return { end: pos, batches, closed: false, torn: true };
    const metaLength = view.getInt32(pos + 4, true);
    if (metaLength === 0) return { end: pos, batches, closed: true, torn: pos + 8 !== bytes.length };
    if (metaLength < 0 || pos + 8 + metaLength > bytes.length) break;
    let message: Message;
    try {
      message = Message.decode(bytes.subarray(pos + 8, pos + 8 + metaLength));
    } catch {
      return { end: pos, batches, closed: false, torn: true };
    }
    const next = pos + 8 + metaLength + Number(message.bodyLength);
    if (next > bytes.length) break;
    if (message.headerType === MessageHeader.Schema) sawSchema = true;
    else if (message.headerType === MessageHeader.RecordBatch && sawSchema) batches++;
    else return { end: pos, batches, closed: false, torn: true };
    pos = next;
  }
  return { end: pos, batches, closed: false, torn: pos !== bytes.length };
}
