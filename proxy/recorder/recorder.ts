// The gateway's recorder: appends records to the current segment with group commit (records
// that arrive while one fsync runs share the next), rotates segments by size and age, seals
// them, and says plainly when it cannot write, so the gateway refuses statements rather than
// run them unrecorded (strict) or holds records in memory up to a bound (batched).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Schema } from 'apache-arrow';
import { ColumnHasher } from './column-hash.js';
import { BatchColumns, encodeBatchMessage, type ChainHead } from './encode.js';
import { GATEWAY_ID_PATTERN, segmentName } from './files.js';
import { StreamEncoder } from './ipc.js';
import type { SigningKey } from './keys.js';
import { recoverChain } from './recovery.js';
import { bodyOf, sealDigest } from './seal.js';
import { recordSchema, type RecordInput } from './schema.js';
import { SegmentWriter } from './segment-writer.js';

export type Durability = 'strict' | 'batched';

export interface RecorderOptions {
  directory: string;
  gatewayId: string;
  key: SigningKey;
  durability: Durability;
  /** batched: how often queued records are written. */
  batchIntervalMs: number;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  /** batched: records held in memory while writing fails before new ones are refused. */
  maxPendingRecords: number;
  log?: { info(msg: string, f?: object): void; warn(msg: string, f?: object): void; error(msg: string, f?: object): void };
}

/** The recorder cannot take a record: the statement it describes must not run. */
export class RecorderUnavailable extends Error {}

interface Pending {
  input: RecordInput;
  resolve?: () => void;
  reject?: (err: Error) => void;
}

/** Records per batch at most: bounds the memory of one encode and one write. */
const MAX_GROUP = 8192;

export class Recorder {
  private readonly schema: Schema;
  private readonly hasher = new ColumnHasher();
  /** Every flush is encoded into these (reused: a flush of a few records allocates almost nothing). */
  private readonly columns = new BatchColumns();
  private queue: Pending[] = [];
  private head: ChainHead;
  private prevSeal: string | null;
  private segment: SegmentWriter | null = null;
  /** A segment whose seal failed: sealed before anything else is written. */
  private unsealed: SegmentWriter | null = null;
  private ops: Promise<void> = Promise.resolve();
  private busy = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private failureReason: string | null = null;
  private written = 0;
  private urgentQueued = false;

  private constructor(
    private readonly opts: RecorderOptions,
    chain: { head: ChainHead; prevSeal: string | null },
  ) {
    this.schema = recordSchema(opts.gatewayId);
    this.head = chain.head;
    this.prevSeal = chain.prevSeal;
  }

  /** Recovers the chain (sealing what a crash left open) and starts recording. */
  static async open(opts: RecorderOptions): Promise<Recorder> {
    if (!GATEWAY_ID_PATTERN.test(opts.gatewayId)) {
      throw new Error(`gateway id ${JSON.stringify(opts.gatewayId)} must be 1-64 letters, digits, '.', '_' or '-'`);
    }
    await mkdir(opts.directory, { recursive: true, mode: 0o750 });
    const chain = await recoverChain(opts.directory, opts.gatewayId, opts.key);
    for (const note of chain.notes) opts.log?.warn(`recorder recovery: ${note}`);
    const r = new Recorder(opts, chain);
    // Batched mode writes every interval; strict mode writes non-urgent records within it too.
    const tick = Math.min(opts.batchIntervalMs, opts.segmentMaxAgeMs);
    r.timer = setInterval(() => r.onTick(), Math.max(10, tick));
    r.timer.unref();
    return r;
  }

  get gatewayId(): string {
    return this.opts.gatewayId;
  }

  get publicKey() {
    return this.opts.key.publicKey;
  }

  /** Why the last write failed; null while writing works. */
  get failure(): string | null {
    return this.failureReason;
  }

  /** The last record written: sequence and hash. */
  get chainHead(): ChainHead {
    return this.head;
  }

  get recordsWritten(): number {
    return this.written;
  }

  /**
   * strict: resolves once the record is durable, rejects (RecorderUnavailable) if it cannot be
   * written. batched: resolves at once; rejects only while writing fails and the backlog is full.
   *
   * `urgent: false` (strict mode): nobody waits on this record (an outcome, a session's end), so
   * it does not start a sync of its own; it goes with the next urgent record's sync, or within
   * `batchIntervalMs`. Otherwise every statement would pay two syncs: its intent, and the
   * previous statement's outcome that happened to start one just before.
   */
  append(input: RecordInput, urgent = true): Promise<void> {
    if (this.closed) return Promise.reject(new RecorderUnavailable('the recorder is closed'));
    if (this.opts.durability === 'batched') {
      if (this.failureReason && this.queue.length >= this.opts.maxPendingRecords) {
        return Promise.reject(new RecorderUnavailable(`the audit record cannot be written (${this.failureReason}) and ${this.queue.length} records are waiting`));
      }
      this.queue.push({ input });
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (urgent) {
        this.urgentQueued = true;
        if (!this.busy) this.schedule(() => this.flush());
      }
    });
  }

  /** Writes what is queued, seals the segment, stops. */
  async close(): Promise<void> {
    if (this.closed) return this.ops;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.schedule(async () => {
      await this.flush();
      await this.sealCurrent();
    });
    await this.ops;
    for (const p of this.queue.splice(0)) p.reject?.(new RecorderUnavailable('the recorder closed before this record was written'));
  }

  private schedule(op: () => Promise<void>): void {
    this.busy = true;
    this.ops = this.ops.then(op).catch((err: Error) => this.opts.log?.error('recorder error', { error: err.message })).finally(() => {
      this.busy = false;
      if (this.urgentQueued && this.opts.durability === 'strict' && !this.failureReason) this.schedule(() => this.flush());
    });
  }

  private onTick(): void {
    if (this.busy) return;
    if (this.queue.length) this.schedule(() => this.flush());
    else if (this.segment && this.segment.recordCount > 0 && this.segment.age >= this.opts.segmentMaxAgeMs) this.schedule(() => this.sealCurrent());
    else if (this.unsealed) this.schedule(() => this.sealCurrent());
  }

  private async flush(): Promise<void> {
    // batched: what is queued now; what arrives while it is written waits for the next tick.
    // Writing on until the queue ran dry made a busy gateway write (and sync) back to back,
    // ~270 writes a second at 8 pgbench clients instead of one per batch interval.
    let left = this.opts.durability === 'batched' ? this.queue.length : Infinity;
    while (this.queue.length && left > 0) {
      this.urgentQueued = false;
      const group = this.queue.slice(0, Math.min(MAX_GROUP, left));
      try {
        await this.writeGroup(group);
      } catch (err) {
        const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        if (this.failureReason !== reason) this.opts.log?.error('the recorder cannot write; statements are refused until it can', { error: (err as Error).message });
        this.failureReason = reason;
        if (this.opts.durability === 'strict') {
          this.queue.splice(0, group.length);
          for (const p of group) p.reject!(new RecorderUnavailable(`the audit record could not be written (${(err as Error).message})`));
          continue;
        }
        return; // batched: kept queued, retried on the next tick
      }
      this.queue.splice(0, group.length);
      left -= group.length;
      if (this.failureReason) this.opts.log?.info('the recorder writes again', { after: this.failureReason });
      this.failureReason = null;
      this.written += group.length;
      for (const p of group) p.resolve?.();
      if (this.segment && (this.segment.bytes >= this.opts.segmentMaxBytes || this.segment.age >= this.opts.segmentMaxAgeMs)) await this.sealCurrent();
    }
  }

  private async writeGroup(group: Pending[]): Promise<void> {
    if (this.unsealed) await this.sealCurrent();
    if (!this.segment) await this.openSegment();
    const { bytes, head } = encodeBatchMessage(this.opts.gatewayId, this.head, group.map((p) => p.input), this.hasher, this.columns);
    await this.segment!.append(bytes, { seq: head.seq, hash: head.hash, count: group.length });
    this.head = head;
  }

  private async openSegment(): Promise<void> {
    const path = join(this.opts.directory, segmentName(this.opts.gatewayId, this.head.seq + 1));
    this.segment = await SegmentWriter.create(path, { gatewayId: this.opts.gatewayId, firstSeq: this.head.seq + 1, firstPrevHash: this.head.hash, prevSealSha256: this.prevSeal }, new StreamEncoder(this.schema).header());
  }

  private async sealCurrent(): Promise<void> {
    const seg = this.unsealed ?? this.segment;
    if (!seg) return;
    this.unsealed = seg;
    this.segment = null;
    const seal = await seg.seal(this.opts.key);
    this.unsealed = null;
    this.prevSeal = sealDigest(bodyOf(seal));
    this.opts.log?.info('segment sealed', { segment: seal.segment, first_seq: seal.first_seq, last_seq: seal.last_seq, records: seal.records });
  }
}
