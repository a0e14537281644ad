// The DuckDB side of `auditgate collect`: lands verified segments while the collector verifies
// the next ones. Each segment lands whole or not at all, once: its records (written as a
// Parquet file, segment-parquet.ts, and inserted with one INSERT ... SELECT FROM read_parquet),
// its `segments` row and its `landed` verification result go into the same transaction.
//
// A transaction holds several segments (BATCH_RECORDS records or more, or what is left at the
// end), because DuckDB stores a few big commits much more cheaply than many small ones: each
// commit leaves a part-filled row group, and the final CHECKPOINT rewrites runs of up to three
// row groups that fit in fewer (DuckDB's vacuum), which after per-segment commits is nearly
// every row again (measured on 1M records: 6-7.5 s of DuckDB CPU committing every segment,
// 3.6-4.2 s committing every 4 or 8). A failure rolls back the whole open transaction: none of
// its segments lands, each is reported, and collect stops.
//
// DuckDB runs with one thread while landing: with two, its client thread spins waiting for the
// other (about a third of DuckDB's CPU samples under perf), and several INSERTs in one
// transaction took three times the CPU (11-12 s for 1M records). One thread leaves the other
// core to verification.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { hex } from '../proxy/recorder/chain.js';
import { COLUMNS } from '../proxy/recorder/schema.js';
import { bodyOf, sealDigest, type Seal } from '../proxy/recorder/seal.js';
import type { SegmentVerification } from '../proxy/recorder/verify.js';
import type { EvidenceDb } from './evidence-db.js';
import { writeSegmentParquetFile } from './segment-parquet.js';
import { sqlLiteral } from './query.js';

/**
 * A transaction commits once it holds this many records (whole segments: a segment is never
 * split). More than three of DuckDB's row groups (122,880 rows): the part-filled row groups two
 * commits leave are then too far apart for the checkpoint to merge and rewrite.
 */
export const BATCH_RECORDS = 500_000;

/** A verified segment to land, with its seal. */
export interface SegmentToLand {
  v: SegmentVerification;
  seal: Seal;
}

export interface LanderOptions {
  db: EvidenceDb;
  runId: string;
  /** Where the Parquet staging files go (the caller removes the directory). */
  tempDir: string;
  /** Records per transaction (default BATCH_RECORDS). */
  batchRecords?: number;
  /** The segments of a transaction that committed, in landing order (awaited before the next transaction). */
  onCommitted: (segments: SegmentToLand[]) => void | Promise<void>;
  /** The segments of a transaction that rolled back: none of them landed. */
  onFailed: (segments: SegmentToLand[], err: Error) => void;
  /** A segment handed over after a transaction failed: not landed, the run stops. */
  onStopped: (segment: SegmentToLand, failure: Error) => void;
}

const RECORD_COLUMNS = COLUMNS.map(([name]) => `"${name}"`).join(', ');
const RECORD_SELECT = COLUMNS.map(([name, type]) => (type === 'timestamp' ? `make_timestamptz("${name}")` : `"${name}"`)).join(', ');

export class SegmentLander {
  /** Why landing stopped (a transaction rolled back); nothing is accepted after it. */
  failure: Error | null = null;
  /** Time spent writing Parquet files and running DuckDB's statements. */
  busySeconds = 0;
  /** The connection, one statement at a time: every landing step is chained on this. */
  private work: Promise<void> = Promise.resolve();
  private open: SegmentToLand[] = [];
  /** Records of the segments handed to the open transaction so far (inserted or still queued). */
  private txRecords = 0;
  /** Segments written to Parquet and waiting for (or in) DuckDB. */
  private queued: Promise<void>[] = [];
  private files = 0;
  private readonly batchRecords: number;

  private constructor(
    private readonly opts: LanderOptions,
    private readonly threadsBefore: string,
  ) {
    this.batchRecords = opts.batchRecords ?? BATCH_RECORDS;
  }

  static async start(opts: LanderOptions): Promise<SegmentLander> {
    const c = opts.db.connection;
    const threads = String((await c.runAndReadAll(`SELECT current_setting('threads')`)).getRows()[0]![0]);
    await c.run('SET threads = 1');
    return new SegmentLander(opts, threads);
  }

  /**
   * Queues a verified segment: its Parquet file is written now (on this thread), DuckDB inserts
   * it when the connection is free. Waits first while two segments already wait for DuckDB, so
   * verification runs ahead of landing by a segment or two and memory stays bounded.
   */
  async add(segment: SegmentToLand): Promise<void> {
    while (this.queued.length >= 2) await this.queued[0];
    if (this.failure) {
      this.opts.onStopped(segment, this.failure);
      return;
    }
    const t0 = performance.now();
    const staging = join(this.opts.tempDir, `${String(this.files++).padStart(6, '0')}.parquet`);
    try {
      writeSegmentParquetFile(segment.v.table!, staging);
    } catch (err) {
      // A staging file that cannot be written (a full disk) fails landing like a refused INSERT.
      await rm(staging, { force: true });
      await this.chain(async () => {
        this.open.push({ v: { ...segment.v, table: null }, seal: segment.seal });
        await this.rollBack(err as Error);
      });
      return;
    }
    this.busySeconds += (performance.now() - t0) / 1000;
    // Whether this segment fills the transaction is known now, so its COMMIT is chained right
    // after its INSERT, as a step of its own: `queued` (what verification waits on) is the
    // INSERT alone, and the next segments verify while DuckDB commits (a commit of 500k
    // records took 1-1.4 s, which verification used to sit out).
    this.txRecords += segment.v.records;
    const fills = this.txRecords >= this.batchRecords;
    if (fills) this.txRecords = 0;
    const queued: Promise<void> = this.chain(async () => {
      try {
        if (this.failure) this.opts.onStopped(segment, this.failure);
        else await this.insert(segment, staging);
      } catch (err) {
        await this.rollBack(err as Error);
      } finally {
        this.queued.splice(this.queued.indexOf(queued), 1);
        await rm(staging, { force: true });
      }
    });
    this.queued.push(queued);
    if (fills) void this.chain(() => this.commit()).catch(() => {}); // commit() handles its own failure
  }

  /** Resolves when DuckDB has done everything handed to it so far (inserts and the commits due). */
  async settled(): Promise<void> {
    await this.work;
  }

  /** Commits what is open; resolves when everything queued has landed (or failed). */
  async flush(): Promise<void> {
    await this.chain(() => this.commit());
  }

  /** Flushes, then gives DuckDB its threads back (for the derivation and queries after landing). */
  async finish(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.opts.db.connection.run(`SET threads = ${Number(this.threadsBefore) || 1}`);
    }
  }

  private chain(step: () => Promise<void>): Promise<void> {
    const next = this.work.then(step);
    this.work = next.catch(() => {});
    return next;
  }

  private async run(sql: string, params?: unknown[]) {
    const t0 = performance.now();
    try {
      return await this.opts.db.connection.run(sql, params as never);
    } finally {
      this.busySeconds += (performance.now() - t0) / 1000;
    }
  }

  private async insert(segment: SegmentToLand, staging: string): Promise<void> {
    const { v, seal } = segment;
    const begin = !this.open.length;
    // Kept until the commit says it landed (without its records: DuckDB has them by then).
    this.open.push({ v: { ...v, table: null }, seal });
    try {
      if (begin) await this.run('BEGIN TRANSACTION');
      const inserted = await this.run(`INSERT INTO records (${RECORD_COLUMNS}) SELECT ${RECORD_SELECT} FROM read_parquet(${sqlLiteral(staging)})`);
      if (inserted.rowsChanged !== v.records) throw new Error(`${inserted.rowsChanged} rows inserted for ${v.records} records`);
      const firstPrev = v.table && v.table.numRows > 0 ? hex(v.table.getChild('prev_hash')!.get(0) as Uint8Array) : null;
      await this.run(`INSERT INTO segments VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::TIMESTAMPTZ, $14::TIMESTAMPTZ, $15, $16, now(), 'landed')`, [
        v.file.gatewayId,
        v.file.name,
        v.segmentSha256,
        seal.segment_bytes,
        v.firstSeq ?? seal.first_seq,
        v.lastSeq ?? seal.last_seq,
        v.records,
        firstPrev ?? seal.first_prev_hash,
        v.end?.hash ?? seal.last_hash,
        sealDigest(bodyOf(seal)),
        seal.prev_seal_sha256,
        seal.key_id,
        seal.opened_at ?? null,
        seal.sealed_at ?? null,
        seal.recovered === true,
        this.opts.runId,
      ]);
      await this.run(`INSERT INTO verification_results VALUES ($1, now(), $2, $3, $4, $5, $6, 'landed', 'ok', $7)`, [
        this.opts.runId,
        v.file.gatewayId,
        v.file.name,
        v.segmentSha256,
        v.firstSeq,
        v.lastSeq,
        `verified and landed: ${v.records} records${v.firstSeq !== null ? ` (${v.firstSeq}-${v.lastSeq})` : ''}`,
      ]);
    } catch (err) {
      await this.rollBack(err as Error);
    }
  }

  private async commit(): Promise<void> {
    if (!this.open.length || this.failure) return;
    try {
      await this.run('COMMIT');
    } catch (err) {
      await this.rollBack(err as Error);
      return;
    }
    const committed = this.open;
    this.open = [];
    await this.opts.onCommitted(committed);
  }

  private async rollBack(err: Error): Promise<void> {
    // Explicitly: DuckDB's COMMIT of a transaction an error aborted keeps nothing but says nothing.
    await this.opts.db.connection.run('ROLLBACK').catch(() => {});
    const lost = this.open;
    this.open = [];
    this.txRecords = 0;
    this.failure = err;
    this.opts.onFailed(lost, err);
  }
}
