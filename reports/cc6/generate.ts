// `auditgate report cc6`: the SOC 2 CC6 evidence packet. Runs every query of the packet against
// the evidence database (read-only), writes the data files, the populations, the sample and its
// transcripts, masking-attestation.json and index.html, then seals the folder (manifest, DSSE
// signature, generation.json, VERIFY.md). See docs/report-cc6.md.
import { access, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { QueryResult } from '../../collectors/query.js';
import { openEvidenceDb } from '../../collectors/evidence-db.js';
import { SCHEMA_PARTS } from '../../collectors/schema/index.js';
import { packageVersion } from '../../policies/locations.js';
import { openSigningKey } from '../../proxy/recorder/signing-key-file.js';
import { runPacketCopyQuery, type CopyPacketQuery } from '../packet/copy-query.js';
import { sha256File } from '../packet/hash.js';
import { listPacketFiles, type ManifestEntry } from '../packet/manifest.js';
import { PACKET_SESSION_SETUP, paramsUsedBy, runPacketQuery, type PacketQuery, type QueryParams } from '../packet/query-file.js';
import { finishPacket } from '../packet/write.js';
import { maskingAttestation } from './attestation.js';
import { FigureRefs } from './figure-refs.js';
import { renderPage } from './page.js';
import { resolvePeriod } from './period.js';
import { controlsMapQuery } from './queries/controls-map.js';
import { completenessQueries } from './queries/completeness.js';
import { accessMatrix, approvalTrail, denials, entitlements, gatewayBuilds, policyBundles, privilegedActions } from './queries/data-files.js';
import { exceptions } from './queries/exceptions.js';
import { activityByDay, approvalLatency, decisionsByIdentity, maskedByColumn, refusedConnections, summary } from './queries/figures.js';
import { blockedExports, classifiedColumns, maskedValues, unmaskedSensitive } from './queries/masking.js';
import { periodParams } from './queries/period-sql.js';
import { approvalsPopulation, identitiesPopulation, sessionsPopulation, statementsPopulation } from './queries/populations.js';
import { DEFAULT_SAMPLE_SIZE, drawSample } from './sample.js';

export interface Cc6Options {
  /** The evidence DuckDB file; opened read-only. */
  db: string;
  /** First day of the period (YYYY-MM-DD, inclusive) or an ISO timestamp. */
  from: string;
  /** Last day of the period (YYYY-MM-DD, inclusive) or an ISO timestamp (exclusive). */
  to: string;
  /** The packet folder to write; must not exist or be empty. */
  out: string;
  /** Also write the sealed packet as this zip (outside `out`). */
  zip?: string;
  org?: string;
  /** Sessions sampled for transcripts (default 25). */
  sampleSize?: number;
  /** Sample seed; default: derived from the population digest. */
  seed?: string;
  /** Ed25519 private key (PEM) that signs the manifest; default ./keys/packet-signing.pem, created on first use. */
  signingKey?: string;
  /** IANA time zone for days and business hours (default UTC). */
  timeZone?: string;
  /** Called as the work goes (stage names, queries done of total). */
  progress?: (stage: string, done: number, total: number) => void;
  /** The command line's arguments, for generation.json (default: these options). */
  arguments?: Record<string, unknown>;
}

export interface Cc6Result {
  dir: string;
  files: number;
  keyId: string;
  /** The public key that verifies the packet. */
  publicKeyFile: string;
  /** True when the signing key was created by this run. */
  keyCreated: boolean;
  /** The headline figures index.html shows, by name. */
  figures: Record<string, number | string | null>;
  /** Rows per query id. */
  rowCounts: Record<string, number>;
  /** Wall time per stage (ms), in order. */
  stages: { stage: string; ms: number }[];
  elapsedMs: number;
}

export class ReportError extends Error {}

export const DEFAULT_PACKET_KEY = join('keys', 'packet-signing.pem');
const publicKeyFileFor = (privateFile: string) => privateFile.replace(/(\.pem)?$/, '.pub.pem');

async function emptyOrMissing(dir: string): Promise<void> {
  try {
    const entries = await readdir(dir);
    if (entries.length) throw new ReportError(`the packet folder ${dir} is not empty: give a new folder (a packet is sealed once and never added to)`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new ReportError(`${dir} is a file, not a folder`);
    throw err;
  }
}

/**
 * The views the packet's queries use exist only from schema versions this auditgate writes, and
 * read the derived statement tables, which must hold every landed segment (a database from an
 * older auditgate has none; a collect run that stopped early may have left some out).
 */
async function upgradeSchemaIfNeeded(path: string): Promise<void> {
  const ro = await openEvidenceDb(path, { readOnly: true });
  let have = new Map<string, number>();
  let underived = 0;
  try {
    const r = await ro.connection.runAndReadAll('SELECT part, version FROM schema_parts');
    have = new Map(r.getRows().map((row) => [String(row[0]), Number(row[1])]));
  } catch {
    ro.close();
    throw new ReportError(`${path} is not an auditgate evidence database (no schema_parts table): create it with \`auditgate collect\``);
  }
  try {
    if (SCHEMA_PARTS.every((p) => have.get(p.name) === p.version)) {
      const r = await ro.connection.runAndReadAll(`SELECT count(*) FROM segments s WHERE status = 'landed'
        AND NOT EXISTS (SELECT 1 FROM derived_segments d WHERE d.gateway_id = s.gateway_id AND d.segment_sha256 = s.segment_sha256)`);
      underived = Number(r.getRows()[0]![0]);
      if (underived === 0) return;
    }
  } finally {
    ro.close();
  }
  // Tables, views and macros, then the derived tables for what they lack; no record is touched.
  (await openEvidenceDb(path)).close();
}

export async function generateCc6Report(opts: Cc6Options): Promise<Cc6Result> {
  const started = Date.now();
  const stages: { stage: string; ms: number }[] = [];
  let stageStart = Date.now();
  const stage = (name: string) => {
    const now = Date.now();
    stages.push({ stage: name, ms: now - stageStart });
    stageStart = now;
  };
  const period = resolvePeriod(opts.from, opts.to, opts.timeZone ?? 'UTC');
  const sampleSize = opts.sampleSize ?? DEFAULT_SAMPLE_SIZE;
  if (!Number.isInteger(sampleSize) || sampleSize < 0) throw new ReportError(`--sample-size must be a whole number ≥ 0, not ${opts.sampleSize}`);
  const out = resolve(opts.out);
  const dbPath = resolve(opts.db);
  await access(dbPath).catch(() => {
    throw new ReportError(`the evidence database ${opts.db} does not exist: land records first with \`auditgate collect --segments DIR --db ${opts.db}\``);
  });
  await emptyOrMissing(out);

  const keyFile = resolve(opts.signingKey ?? DEFAULT_PACKET_KEY);
  const publicKeyFile = publicKeyFileFor(keyFile);
  const keyCreated = !(await access(keyFile).then(() => true, () => false));
  const key = await openSigningKey(keyFile, publicKeyFile);

  await upgradeSchemaIfNeeded(dbPath);
  stage('open');

  await mkdir(out, { recursive: true });
  try {
    return await writePacket();
  } catch (err) {
    // No half-written packet left behind looking like a finished one.
    await rm(out, { recursive: true, force: true });
    throw err;
  }

  async function writePacket(): Promise<Cc6Result> {
  const db = await openEvidenceDb(dbPath, { readOnly: true });
  // The database file is hashed while the queries run (gigabytes at 10M statements): its digest is
  // only needed for the page and generation.json. Read-only handles lock out writers, so the file
  // hashed is the one queried.
  const dbDigest = sha256File(dbPath);
  dbDigest.catch(() => {}); // awaited below; a failure before then must not be an unhandled rejection
  const results = new Map<string, QueryResult>();
  const rowCounts: Record<string, number> = {};
  const fileQuery = new Map<string, string>();
  const described = new Map<string, ManifestEntry>();
  try {
    const conn: DuckDBConnection = db.connection;
    await conn.run(PACKET_SESSION_SETUP);
    const base = periodParams(period);
    const figureParams: QueryParams = { ...base, first_day: period.firstDay, last_day: period.lastDay };

    const copies: CopyPacketQuery[] = [
      accessMatrix, approvalTrail, privilegedActions, entitlements, denials,
      sessionsPopulation, statementsPopulation, approvalsPopulation, identitiesPopulation,
      ...completenessQueries, unmaskedSensitive, blockedExports,
    ];
    const figures: PacketQuery[] = [
      { ...summary, params: base }, { ...activityByDay, params: figureParams }, { ...decisionsByIdentity, params: base },
      { ...approvalLatency, params: base }, { ...maskedByColumn, params: base }, { ...refusedConnections, params: base },
      { ...policyBundles, params: base }, { ...gatewayBuilds, params: base }, { ...classifiedColumns, params: base },
      { ...maskedValues, params: base }, { ...exceptions, params: base },
    ];
    const total = copies.length + figures.length + 2 + sampleSize + 3;
    let done = 0;
    const tick = (id: string) => opts.progress?.(id, ++done, total);

    for (const q of copies) {
      // Only the parameters a query names are bound (DuckDB refuses unused ones).
      const r = await runPacketCopyQuery(conn, { ...q, params: paramsUsedBy(q.sql, base) }, out);
      rowCounts[r.id] = r.rowCount;
      fileQuery.set(r.file, r.id);
      if (q.parquet) fileQuery.set(q.parquet, r.id);
      for (const f of r.described ?? []) described.set(f.path, f);
      tick(r.id);
    }
    stage('data files and populations');
    for (const q of figures) {
      const r = await runPacketQuery(conn, { ...q, params: paramsUsedBy(q.sql, q.params ?? {}) }, out);
      results.set(r.id, r.result!);
      rowCounts[r.id] = r.rowCount;
      fileQuery.set(r.file, r.id);
      tick(r.id);
    }
    stage('figures');

    const { selection, draw } = await drawSample(conn, out, paramsUsedBy(sessionsPopulation.sql, base), { size: sampleSize, ...(opts.seed !== undefined ? { seed: opts.seed } : {}), onQuery: tick });
    results.set(selection.draw_query_id, draw);
    fileQuery.set('samples/population.csv', selection.population.query_id);
    fileQuery.set('samples/sample.csv', selection.draw_query_id);
    await writeFile(join(out, 'samples', 'selection.json'), `${JSON.stringify(selection, null, 2)}\n`);
    fileQuery.set('samples/selection.json', selection.draw_query_id);
    stage('sample and transcripts');

    const controls = await runPacketQuery(conn, controlsMapQuery((f) => fileQuery.get(f) ?? (f === 'masking-attestation.json' ? maskedValues.id : undefined)), out);
    results.set(controls.id, controls.result!);
    tick(controls.id);

    const attestation = maskingAttestation(period, {
      bundles: results.get(policyBundles.id)!,
      classified: results.get(classifiedColumns.id)!,
      masked: results.get(maskedValues.id)!,
      unmaskedReads: { count: rowCounts[unmaskedSensitive.id] ?? 0, file: unmaskedSensitive.file! },
      blockedExports: { count: rowCounts[blockedExports.id] ?? 0, file: blockedExports.file! },
    });
    await writeFile(join(out, 'masking-attestation.json'), `${JSON.stringify(attestation, null, 2)}\n`);
    tick('masking-attestation');

    const { sha256: dbSha256, bytes: dbBytes } = await dbDigest;
    const refs = new FigureRefs(results);
    const generatedAt = new Date().toISOString();
    const { files } = await listPacketFiles(out);
    const html = renderPage({
      org: opts.org ?? null,
      period,
      generatedAt,
      toolVersion: packageVersion(),
      keyId: key.keyId,
      evidenceDbSha256: dbSha256,
      selection,
      refs,
      files: [...files, 'index.html', 'generation.json', 'VERIFY.md', 'signing-key.pub.pem'].sort(),
    });
    await writeFile(join(out, 'index.html'), html);
    tick('index.html');
    stage('attestation and page');

    const bundles = results.get(policyBundles.id)!;
    const bi = (c: string) => bundles.columns.indexOf(c);
    const sealed = await finishPacket(out, {
      signingKey: key,
      known: described,
      ...(opts.zip ? { zip: resolve(opts.zip) } : {}),
      generation: {
        tool: 'auditgate report cc6',
        tool_version: packageVersion(),
        generated_at: generatedAt,
        generated_by: generatedBy(),
        arguments: opts.arguments ?? { db: opts.db, from: opts.from, to: opts.to, out: opts.out, org: opts.org ?? null, sample_size: sampleSize, seed: opts.seed ?? null, time_zone: period.timeZone },
        period: { from: period.from, to: period.to, time_zone: period.timeZone },
        evidence_db: { path: dbPath, sha256: dbSha256, bytes: dbBytes },
        policy_bundles: bundles.rows.map((row) => ({ name: String(row[bi('revision')] ?? row[bi('source')] ?? 'policy bundle'), sha256: String(row[bi('bundle_sha256')]) })),
      },
    });
    tick('sealed');
    stage('seal');

    const figuresOut: Record<string, number | string | null> = {};
    const s = results.get(summary.id)!;
    for (const row of s.rows) figuresOut[String(row[0])] = row[1] === null ? null : Number(row[1]);
    figuresOut.exceptions = refs.countOf(exceptions.id, { severity: 'exception' });
    figuresOut.reviews = refs.countOf(exceptions.id, { severity: 'review' });
    figuresOut.sampled = selection.size;
    return { dir: out, files: sealed.manifest.files.length, keyId: key.keyId, publicKeyFile, keyCreated, figures: figuresOut, rowCounts, stages, elapsedMs: Date.now() - started };
  } finally {
    db.close();
  }
  }
}

function generatedBy(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return hostname();
  }
}

