// `auditgate collect`: verifies each recorded segment (signature, digest, every record hash, the
// chain from what this evidence database already landed for the gateway, sequence gaps,
// truncation) and lands the ones that verify, each whole and once. A segment that
// does not verify is not landed and is never skipped silently: its findings go to
// verification_results and the run reports failure. The last segment of a gateway that is
// still being written (no seal yet) is skipped with a note and lands on a later run.
//
// Landing (segment-lander.ts): a verified segment's Arrow table is written as a Parquet file
// (segment-parquet.ts) and inserted with one INSERT ... SELECT FROM read_parquet, in a
// transaction of several whole segments (a failure lands none of them and stops the run).
// DuckDB inserts and commits on its own thread while this one verifies the next segment, whose
// file is read ahead: the two cores each do one half.
import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listSegments, parseSegmentName, SEAL_EXT, type SegmentFile } from '../proxy/recorder/files.js';
import { keyIdOf } from '../proxy/recorder/keys.js';
import { bodyOf, sealDigest, type Seal } from '../proxy/recorder/seal.js';
import { genesisPoint, verifySegmentFile, type ChainPoint, type FindingCode, type SegmentVerification } from '../proxy/recorder/verify.js';
import { packageVersion } from '../policies/locations.js';
import { deriveStatements } from './derive-statements.js';
import type { EvidenceDb } from './evidence-db.js';
import { SegmentLander, type SegmentToLand } from './segment-lander.js';
import { sqlLiteral } from './query.js';

export type Severity = 'error' | 'warning' | 'note' | 'ok';

/** What verification_results.code holds: the verifier's finding codes and the collector's own. */
export type ResultCode =
  | FindingCode
  | 'landed' // verified and landed (severity ok)
  | 'open' // not sealed yet: skipped, lands on a later run (severity note)
  | 'unreadable' // the file vanished or could not be read while collecting
  | 'land_failed'; // verified, but DuckDB refused the rows: nothing of it landed

export interface CollectFinding {
  gatewayId: string | null;
  segment: string | null;
  segmentSha256: string | null;
  firstSeq: number | null;
  lastSeq: number | null;
  code: ResultCode;
  severity: Severity;
  message: string;
}

export interface LandedSegment {
  gatewayId: string;
  segment: string;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
}

export interface CollectProgress {
  segmentsDone: number;
  segmentsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  recordsLanded: number;
  current: string | null;
}

export interface CollectOptions {
  /** The directory the gateways record into. */
  directory: string;
  db: EvidenceDb;
  /** The gateways' segment signing public key. */
  publicKey: KeyObject;
  onProgress?: (p: CollectProgress) => void;
  /** Where the Parquet staging files go (default: the OS temp directory). */
  tempDir?: string;
  /**
   * Land a segment while the next one verifies (default true). False inserts each before
   * verifying the next: slower, but verifySeconds and landSeconds then measure each part alone
   * (benchmarks).
   */
  overlap?: boolean;
  /** Records per landing transaction (default segment-lander.ts BATCH_RECORDS; whole segments). */
  batchRecords?: number;
}

export interface CollectResult {
  runId: string;
  directory: string;
  segmentsSeen: number;
  landed: LandedSegment[];
  alreadyLanded: string[];
  rejected: string[];
  open: string[];
  /** Everything but the per-segment `landed` rows: errors, warnings and notes. */
  findings: CollectFinding[];
  recordsLanded: number;
  /** Time spent verifying segments. */
  verifySeconds: number;
  /**
   * Time spent landing: writing Parquet files, DuckDB's inserts and commits, the final
   * CHECKPOINT. With `overlap` (the default) landing and verification run at the same time, on
   * two cores, so the two add up to more than `seconds`.
   */
  landSeconds: number;
  seconds: number;
  /** No error: every segment present either landed, was landed before, or is still open. */
  ok: boolean;
}

/** The directory or the database cannot be used at all (as opposed to a segment failing). */
export class CollectError extends Error {
  override name = 'CollectError';
}

interface LandedRow {
  segment: string;
  sha256: string;
  firstSeq: number | null;
  lastSeq: number | null;
  lastHash: string | null;
  sealSha256: string;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export async function collectSegments(opts: CollectOptions): Promise<CollectResult> {
  const started = performance.now();
  const c = opts.db.connection;
  const runId = randomUUID();
  const keyId = keyIdOf(opts.publicKey);
  const result: CollectResult = {
    runId,
    directory: opts.directory,
    segmentsSeen: 0,
    landed: [],
    alreadyLanded: [],
    rejected: [],
    open: [],
    findings: [],
    recordsLanded: 0,
    verifySeconds: 0,
    landSeconds: 0,
    seconds: 0,
    ok: true,
  };

  let listing: Awaited<ReturnType<typeof listSegments>>;
  try {
    listing = await listSegments(opts.directory);
  } catch (err) {
    throw new CollectError(`cannot read the segment directory ${opts.directory}: ${(err as Error).message}`);
  }
  const { segments, strays } = listing;
  result.segmentsSeen = segments.length;

  await c.run(
    `INSERT INTO verification_runs (run_id, started_at, directory, key_id, auditgate_version, status) VALUES ($1, now(), $2, $3, $4, 'running')`,
    [runId, opts.directory, keyId, packageVersion()],
  );

  // Everything the database holds for the gateways present, by gateway, in sequence order.
  const landedBy = new Map<string, LandedRow[]>();
  for (const row of (await c.runAndReadAll(`SELECT gateway_id, segment, segment_sha256, first_seq, last_seq, last_hash, seal_sha256 FROM segments ORDER BY gateway_id, last_seq NULLS FIRST, first_seq`)).getRowObjects()) {
    const g = String(row.gateway_id);
    if (!landedBy.has(g)) landedBy.set(g, []);
    landedBy.get(g)!.push({ segment: String(row.segment), sha256: String(row.segment_sha256), firstSeq: num(row.first_seq), lastSeq: num(row.last_seq), lastHash: row.last_hash === null ? null : String(row.last_hash), sealSha256: String(row.seal_sha256) });
  }

  const pendingFindings: CollectFinding[] = [];
  const add = (f: CollectFinding) => {
    pendingFindings.push(f);
    if (f.severity !== 'ok') result.findings.push(f);
    if (f.severity === 'error') result.ok = false;
  };
  // Findings go to verification_results between landing transactions (the lander has the
  // connection meanwhile, and a rolled-back transaction must not take them along).
  const flushFindings = async () => {
    if (!pendingFindings.length) return;
    const rows = pendingFindings.splice(0);
    const values = rows.map((f) => `(${sqlLiteral(runId)}, now(), ${f.gatewayId === null ? 'NULL' : sqlLiteral(f.gatewayId)}, ${f.segment === null ? 'NULL' : sqlLiteral(f.segment)}, ${f.segmentSha256 === null ? 'NULL' : sqlLiteral(f.segmentSha256)}, ${f.firstSeq ?? 'NULL'}, ${f.lastSeq ?? 'NULL'}, ${sqlLiteral(f.code)}, ${sqlLiteral(f.severity)}, ${sqlLiteral(f.message)})`);
    await c.run(`INSERT INTO verification_results VALUES ${values.join(', ')}`);
  };

  let bytesTotal = 0;
  const sizes = new Map<string, number>();
  for (const s of segments) {
    const size = await stat(s.path).then((st) => st.size, () => 0);
    sizes.set(s.path, size);
    bytesTotal += size;
  }
  let bytesDone = 0;
  let done = 0;
  const progress = (current: string | null) => opts.onProgress?.({ segmentsDone: done, segmentsTotal: segments.length, bytesDone, bytesTotal, recordsLanded: result.recordsLanded, current });
  const whereOf = ({ v }: SegmentToLand) => ({ gatewayId: v.file.gatewayId, segment: v.file.name, segmentSha256: v.segmentSha256, firstSeq: v.firstSeq, lastSeq: v.lastSeq });
  const tempDir = await mkdtemp(join(opts.tempDir ?? tmpdir(), 'auditgate-collect-'));
  const lander = await SegmentLander.start({
    db: opts.db,
    runId,
    tempDir,
    ...(opts.batchRecords ? { batchRecords: opts.batchRecords } : {}),
    async onCommitted(committed) {
      for (const { v } of committed) {
        result.landed.push({ gatewayId: v.file.gatewayId, segment: v.file.name, records: v.records, firstSeq: v.firstSeq, lastSeq: v.lastSeq });
        result.recordsLanded += v.records;
        bytesDone += sizes.get(v.file.path) ?? 0;
        done++;
      }
      progress(null);
      await flushFindings();
    },
    onFailed(lost, err) {
      for (const s of lost) {
        add({ ...whereOf(s), code: 'land_failed', severity: 'error', message: `verified, but landing failed, nothing of it landed: ${err.message}` });
        result.rejected.push(s.v.file.name);
        done++;
      }
    },
    onStopped(s, failure) {
      add({ ...whereOf(s), code: 'land_failed', severity: 'error', message: `verified, but not landed: the run stopped when landing failed (${failure.message})` });
      result.rejected.push(s.v.file.name);
      done++;
    },
  }).catch(async (err: unknown) => {
    await rm(tempDir, { recursive: true, force: true });
    throw err;
  });

  try {
    for (const stray of strays) {
      const name = stray.slice(0, -SEAL_EXT.length);
      const seg = parseSegmentName(opts.directory, name);
      const sealed = await readFile(join(opts.directory, stray), 'utf8').then((t) => (JSON.parse(t) as Partial<Seal>).segment_sha256 ?? null, () => null);
      const wasLanded = seg !== null && (landedBy.get(seg.gatewayId) ?? []).some((l) => l.segment === name && l.sha256 === sealed);
      add(
        wasLanded
          ? { gatewayId: seg.gatewayId, segment: stray, segmentSha256: sealed, firstSeq: null, lastSeq: null, code: 'orphan_seal', severity: 'note', message: `${name} is gone but was landed before (retention removed it and left its seal)` }
          : { gatewayId: seg?.gatewayId ?? null, segment: stray, segmentSha256: sealed, firstSeq: null, lastSeq: null, code: 'orphan_seal', severity: 'error', message: `${stray} has no segment: the segment was deleted before it was collected` },
      );
    }

    const byGateway = new Map<string, SegmentFile[]>();
    for (const s of segments) byGateway.set(s.gatewayId, [...(byGateway.get(s.gatewayId) ?? []), s]);
    // A file's bytes, read once: started ahead of its turn, taken when it comes.
    const reads = new Map<string, Promise<Buffer>>();
    const readAhead = (f: SegmentFile): Promise<Buffer> => {
      let r = reads.get(f.path);
      if (!r) {
        r = readFile(f.path);
        r.catch(() => {}); // reported when it is taken
        reads.set(f.path, r);
      }
      return r;
    };

    for (const [gatewayId, files] of byGateway) {
      const landed = landedBy.get(gatewayId) ?? [];
      const bySha = new Map(landed.map((l) => [l.sha256, l]));
      // The chain point before the next file; undefined: not known yet from this directory.
      let point: ChainPoint | null | undefined;
      for (let i = 0; i < files.length; i++) {
        const file = files[i]!;
        const last = i === files.length - 1;
        progress(file.name);

        // Landed before? The seal names the digest; the bytes must still have it.
        const already = await alreadyLanded(file, bySha);
        if (already) {
          reads.delete(file.path);
          result.alreadyLanded.push(file.name);
          point = { seq: already.lastSeq ?? 0, hash: already.lastHash ?? genesisPoint().hash, sealSha256: already.sealSha256 };
          bytesDone += sizes.get(file.path) ?? 0;
          done++;
          continue;
        }

        let before: ChainPoint | null;
        let unknownStart = false;
        if (point !== undefined) before = point;
        else {
          const prev = [...landed].reverse().find((l) => l.lastSeq !== null && l.lastHash !== null && l.lastSeq < file.firstSeq);
          if (prev) before = { seq: prev.lastSeq!, hash: prev.lastHash!, sealSha256: prev.sealSha256 };
          else if (file.firstSeq === 1) before = genesisPoint();
          else {
            before = null;
            unknownStart = true;
          }
        }

        // Read the next file while this one verifies (the read happens on a libuv thread).
        const bytes = readAhead(file);
        reads.delete(file.path);
        if (!last) readAhead(files[i + 1]!);
        const t0 = performance.now();
        let v: SegmentVerification;
        try {
          v = await verifySegmentFile(file, opts.publicKey, before, await bytes);
        } catch (err) {
          add({ gatewayId, segment: file.name, segmentSha256: null, firstSeq: null, lastSeq: null, code: 'unreadable', severity: 'error', message: `cannot read it: ${(err as Error).message}` });
          result.rejected.push(file.name);
          point = null;
          done++;
          continue;
        }
        result.verifySeconds += (performance.now() - t0) / 1000;
        const where = { gatewayId, segment: file.name, segmentSha256: v.segmentSha256, firstSeq: v.firstSeq, lastSeq: v.lastSeq };

        const open = v.findings.some((f) => f.code === 'unsealed') && last;
        if (open) {
          const others = v.findings.filter((f) => f.code !== 'unsealed' && f.code !== 'torn');
          if (!others.length) {
            add({ ...where, code: 'open', severity: 'note', message: `not sealed yet (${v.records} records so far): the gateway is still writing it, or stopped without sealing; it lands on a later collect once sealed` });
            result.open.push(file.name);
            bytesDone += sizes.get(file.path) ?? 0;
            done++;
            continue;
          }
        }

        const errors = v.findings.map((f) => ({ ...where, code: f.code as ResultCode, severity: 'error' as Severity, message: f.message }));
        if (unknownStart && v.firstSeq !== null) {
          add({ ...where, code: 'missing_start', severity: 'warning', message: `the chain starts at record ${v.firstSeq} and this database holds nothing before it for ${gatewayId}: earlier segments were removed before they were ever collected` });
        }
        if (!errors.length && v.firstSeq !== null && v.lastSeq !== null) {
          const clash = landed.find((l) => l.firstSeq !== null && l.lastSeq !== null && l.firstSeq <= v.lastSeq! && l.lastSeq >= v.firstSeq!);
          if (clash) errors.push({ ...where, code: 'sequence_overlap', severity: 'error', message: `records ${Math.max(clash.firstSeq!, v.firstSeq)}-${Math.min(clash.lastSeq!, v.lastSeq)} were already landed from ${clash.segment} (a duplicated or re-sealed segment)` });
        }
        if (errors.length) {
          for (const e of errors) add(e);
          result.rejected.push(file.name);
          point = v.end ?? (v.seal ? { seq: v.seal.last_seq, hash: v.seal.last_hash, sealSha256: sealDigest(bodyOf(v.seal)) } : null);
          bytesDone += sizes.get(file.path) ?? 0;
          done++;
          continue;
        }

        // Verified: land it (DuckDB works on it while the loop verifies the next one). It counts
        // as landed for the checks of the segments after it; if its transaction fails, the run stops.
        point = v.end;
        const seal = v.seal!;
        landed.push({ segment: file.name, sha256: v.segmentSha256, firstSeq: v.firstSeq, lastSeq: v.lastSeq, lastHash: v.end?.hash ?? null, sealSha256: sealDigest(bodyOf(seal)) });
        bySha.set(v.segmentSha256, landed.at(-1)!);
        await lander.add({ v, seal });
        if (opts.overlap === false) await lander.settled();
        if (lander.failure) break;
      }
      if (lander.failure) break;
    }
    await lander.finish();
    await flushFindings();
    await deriveStatements(c); // the statement tables the views read, for what landed (derive-statements.ts)
    if (result.landed.length) {
      // Fold the write-ahead log into the database file now, as part of landing: the file is
      // then complete on its own (copied to an auditor, opened read-only), and closing is quick.
      const t = performance.now();
      await c.run('CHECKPOINT');
      result.landSeconds += (performance.now() - t) / 1000;
    }
  } finally {
    await lander.finish().catch(() => {});
    result.landSeconds += lander.busySeconds;
    await rm(tempDir, { recursive: true, force: true });
  }

  result.seconds = (performance.now() - started) / 1000;
  const errors = result.findings.filter((f) => f.severity === 'error').length;
  await c.run(
    `UPDATE verification_runs SET finished_at = now(), status = $2, segments_seen = $3, segments_landed = $4, segments_already_landed = $5, segments_rejected = $6, segments_open = $7, records_landed = $8, errors = $9 WHERE run_id = $1`,
    [runId, result.ok ? 'ok' : 'failed', result.segmentsSeen, result.landed.length, result.alreadyLanded.length, result.rejected.length, result.open.length, result.recordsLanded, errors],
  );
  progress(null);
  if (lander.failure) throw new CollectError(`landing failed, the run stopped (run ${runId}): ${lander.failure.message}`);
  return result;
}

/** The landed row for this file when its seal names a digest landed under this name and its bytes still have it. */
async function alreadyLanded(file: SegmentFile, bySha: Map<string, LandedRow>): Promise<LandedRow | null> {
  if (!bySha.size) return null;
  let seal: Seal;
  try {
    seal = JSON.parse(await readFile(file.sealPath, 'utf8')) as Seal;
  } catch {
    return null;
  }
  const row = typeof seal.segment_sha256 === 'string' ? bySha.get(seal.segment_sha256) : undefined;
  // Under another name it is a copy (or a rename): verified again, which says so.
  if (!row || row.segment !== file.name) return null;
  try {
    const actual = createHash('sha256').update(await readFile(file.path)).digest('hex');
    return actual === row.sha256 ? row : null;
  } catch {
    return null;
  }
}
