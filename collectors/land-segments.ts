// `auditgate collect`: verifies each recorded segment (signature, digest, every record hash, the
// chain from what this evidence database already landed for the gateway, sequence gaps,
// truncation) and lands the ones that verify, each in one transaction, once. A segment that
// does not verify is not landed and is never skipped silently: its findings go to
// verification_results and the run reports failure. The last segment of a gateway that is
// still being written (no seal yet) is skipped with a note and lands on a later run.
//
// Landing: a verified segment's Arrow table is written as a Parquet file (segment-parquet.ts)
// and inserted with one INSERT ... SELECT FROM read_parquet, which DuckDB runs on its own
// threads while this thread verifies the next segment.
import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hex } from '../proxy/recorder/chain.js';
import { listSegments, parseSegmentName, SEAL_EXT, type SegmentFile } from '../proxy/recorder/files.js';
import { keyIdOf } from '../proxy/recorder/keys.js';
import { COLUMNS } from '../proxy/recorder/schema.js';
import { bodyOf, sealDigest, type Seal } from '../proxy/recorder/seal.js';
import { genesisPoint, verifySegmentFile, type ChainPoint, type FindingCode, type SegmentVerification } from '../proxy/recorder/verify.js';
import { packageVersion } from '../policies/locations.js';
import type { EvidenceDb } from './evidence-db.js';
import { writeSegmentParquetFile } from './segment-parquet.js';

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
   * Land a segment while the next one verifies (default true). False lands each before
   * verifying the next: slower, but landSeconds then measures landing alone (benchmarks).
   */
  overlap?: boolean;
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
   * Time from writing a segment's Parquet file to its commit, summed. With `overlap` (the
   * default) it includes time the landing waited for this thread (busy verifying the next
   * segment), so it measures landing alone only with overlap: false.
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

const q = (s: string) => `'${s.replaceAll("'", "''")}'`;
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

const RECORD_COLUMNS = COLUMNS.map(([name]) => `"${name}"`).join(', ');
const RECORD_SELECT = COLUMNS.map(([name, type]) => (type === 'timestamp' ? `make_timestamptz("${name}")` : `"${name}"`)).join(', ');

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

  const tempDir = await mkdtemp(join(opts.tempDir ?? tmpdir(), 'auditgate-collect-'));
  // One connection, one statement at a time: landing k runs while segment k+1 verifies, and
  // every other use of the connection waits for it.
  let landing: Promise<void> = Promise.resolve();
  let landFailure: Error | null = null;
  const pendingFindings: CollectFinding[] = [];
  const add = (f: CollectFinding) => {
    pendingFindings.push(f);
    if (f.severity !== 'ok') result.findings.push(f);
    if (f.severity === 'error') result.ok = false;
  };
  const flushFindings = async () => {
    await landing;
    if (!pendingFindings.length) return;
    const rows = pendingFindings.splice(0);
    const values = rows.map((f) => `(${q(runId)}, now(), ${f.gatewayId === null ? 'NULL' : q(f.gatewayId)}, ${f.segment === null ? 'NULL' : q(f.segment)}, ${f.segmentSha256 === null ? 'NULL' : q(f.segmentSha256)}, ${f.firstSeq ?? 'NULL'}, ${f.lastSeq ?? 'NULL'}, ${q(f.code)}, ${q(f.severity)}, ${q(f.message)})`);
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

        const t0 = performance.now();
        let v: SegmentVerification;
        try {
          v = await verifySegmentFile(file, opts.publicKey, before);
        } catch (err) {
          add({ gatewayId, segment: file.name, segmentSha256: null, firstSeq: null, lastSeq: null, code: 'unreadable', severity: 'error', message: `cannot read it: ${(err as Error).message}` });
          result.rejected.push(file.name);
          point = null;
          done++;
          await flushFindings();
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
            await flushFindings();
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
          await flushFindings();
          continue;
        }

        // Verified: land it (DuckDB works on it while the loop verifies the next one).
        point = v.end;
        const seal = v.seal!;
        await landing;
        if (landFailure) break;
        const staging = join(tempDir, `${String(done).padStart(6, '0')}.parquet`);
        const t1 = performance.now();
        writeSegmentParquetFile(v.table!, staging);
        landing = landSegment(opts.db, runId, v, seal, staging)
          .then(async () => {
            result.landSeconds += (performance.now() - t1) / 1000;
            result.landed.push({ gatewayId, segment: file.name, records: v.records, firstSeq: v.firstSeq, lastSeq: v.lastSeq });
            result.recordsLanded += v.records;
            landed.push({ segment: file.name, sha256: v.segmentSha256, firstSeq: v.firstSeq, lastSeq: v.lastSeq, lastHash: v.end?.hash ?? null, sealSha256: sealDigest(bodyOf(seal)) });
            bySha.set(v.segmentSha256, landed.at(-1)!);
            bytesDone += sizes.get(file.path) ?? 0;
            done++;
            progress(null);
          })
          .catch((err: Error) => {
            landFailure = err;
            add({ ...where, code: 'land_failed', severity: 'error', message: `verified, but landing failed, nothing of it landed: ${err.message}` });
            result.rejected.push(file.name);
          })
          .finally(() => rm(staging, { force: true }));
        if (opts.overlap === false) await landing;
      }
      if (landFailure) break;
    }
    await landing;
    await flushFindings();
    if (result.landed.length) {
      // Fold the write-ahead log into the database file now, as part of landing: the file is
      // then complete on its own (copied to an auditor, opened read-only), and closing is quick.
      const t = performance.now();
      await c.run('CHECKPOINT');
      result.landSeconds += (performance.now() - t) / 1000;
    }
  } finally {
    await landing.catch(() => {});
    await rm(tempDir, { recursive: true, force: true });
  }

  result.seconds = (performance.now() - started) / 1000;
  const errors = result.findings.filter((f) => f.severity === 'error').length;
  await c.run(
    `UPDATE verification_runs SET finished_at = now(), status = $2, segments_seen = $3, segments_landed = $4, segments_already_landed = $5, segments_rejected = $6, segments_open = $7, records_landed = $8, errors = $9 WHERE run_id = $1`,
    [runId, result.ok ? 'ok' : 'failed', result.segmentsSeen, result.landed.length, result.alreadyLanded.length, result.rejected.length, result.open.length, result.recordsLanded, errors],
  );
  progress(null);
  if (landFailure) throw new CollectError(`landing failed, the run stopped (run ${runId}): ${(landFailure as Error).message}`);
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

/** One segment, one transaction: its records, its segments row and its verification result. */
async function landSegment(db: EvidenceDb, runId: string, v: SegmentVerification, seal: Seal, staging: string): Promise<void> {
  const c = db.connection;
  await c.run('BEGIN TRANSACTION');
  try {
    const inserted = await c.run(`INSERT INTO records (${RECORD_COLUMNS}) SELECT ${RECORD_SELECT} FROM read_parquet(${q(staging)})`);
    if (inserted.rowsChanged !== v.records) throw new Error(`${inserted.rowsChanged} rows inserted for ${v.records} records`);
    const firstPrev = v.table && v.table.numRows > 0 ? hex((v.table.getChild('prev_hash')!.get(0) as Uint8Array)) : null;
    await c.run(
      `INSERT INTO segments VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::TIMESTAMPTZ, $14::TIMESTAMPTZ, $15, $16, now(), 'landed')`,
      [
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
        runId,
      ],
    );
    await c.run(
      `INSERT INTO verification_results VALUES ($1, now(), $2, $3, $4, $5, $6, 'landed', 'ok', $7)`,
      [runId, v.file.gatewayId, v.file.name, v.segmentSha256, v.firstSeq, v.lastSeq, `verified and landed: ${v.records} records${v.firstSeq !== null ? ` (${v.firstSeq}-${v.lastSeq})` : ''}`],
    );
    await c.run('COMMIT');
  } catch (err) {
    await c.run('ROLLBACK').catch(() => {});
    throw err;
  }
}
