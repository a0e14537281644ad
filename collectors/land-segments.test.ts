import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Table, tableToIPC } from 'apache-arrow';
import { afterEach, describe, expect, it } from 'vitest';
import { progressBar, runCollect } from '../cli/commands/collect.js';
import { CliError } from '../cli/errors.js';
import { hex } from '../proxy/recorder/chain.js';
import { listSegments } from '../proxy/recorder/files.js';
import { Recorder } from '../proxy/recorder/recorder.js';
import { COLUMNS, type RecordInput, type StoredRecord } from '../proxy/recorder/schema.js';
import { bodyOf, sealDigest, type Seal } from '../proxy/recorder/seal.js';
import { readSegment, recordsOf } from '../proxy/recorder/segment-reader.js';
import { freshKey } from '../proxy/recorder/test-support.js';
import { genesisPoint, verifySegmentFile } from '../proxy/recorder/verify.js';
import { openEvidenceDb, type EvidenceDb } from './evidence-db.js';
import { collectSegments, type CollectResult } from './land-segments.js';
import { record, recorderOptions, recordVolume, scriptedWorkload, T0 } from './segments.fixtures.js';

const dirs: string[] = [];
const dbs: EvidenceDb[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'auditgate-collect-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const db of dbs.splice(0)) db.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const key = freshKey();

async function openDb(dir: string): Promise<EvidenceDb> {
  const db = await openEvidenceDb(join(dir, 'evidence.duckdb'));
  dbs.push(db);
  return db;
}

const collect = (segments: string, db: EvidenceDb, over: Partial<Parameters<typeof collectSegments>[0]> = {}): Promise<CollectResult> =>
  collectSegments({ directory: segments, db, publicKey: key.publicKey, ...over });

async function all(db: EvidenceDb, sql: string): Promise<Record<string, unknown>[]> {
  const r = await db.connection.runAndReadAll(sql);
  return r.getRowObjectsJS().map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
}
const one = async (db: EvidenceDb, sql: string) => (await all(db, sql))[0]!;

async function segmentRecords(dir: string): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for (const s of (await listSegments(dir)).segments) out.push(...recordsOf((await readSegment(s.path)).table));
  return out;
}

/** Values the Parquet path must carry exactly: unicode, quotes, newlines, empty strings, nulls, a long text. */
function trickyRecords(): RecordInput[] {
  return [
    { kind: 'statement', session_id: 'tricky', statement_id: 1, sql: 'SELECT \'it\'\'s\', "quoted", E\'tab\\t\'\n  FROM "Ünïcödé 表" -- 🚀\r\n;', application_name: '', claims: '{"note":"comma, \\"quote\\""}', decision: 'allow', ts: T0 + 100_000_000 },
    { kind: 'statement', session_id: 'tricky', statement_id: 2, sql: `SELECT '${'x'.repeat(100_000)}'`, decision: 'deny', reasons: '["too long"]', ts: T0 + 100_000_001 },
    { kind: 'statement_end', session_id: 'tricky', statement_id: 1, rows: 0, duration_us: 0, error_sqlstate: '', ts: T0 + 100_000_002 },
    { kind: 'statement_end', session_id: 'tricky', statement_id: 3, rows: 9_007_199_254_740_991, duration_us: -1, ts: T0 + 100_000_003 },
    { kind: 'session_end', session_id: null, ts: T0 + 100_000_004 },
  ];
}

describe('collect: landing', () => {
  it('lands every record exactly (all columns, µs timestamps, hashes), each segment once, with what was verified', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    const inputs = [...scriptedWorkload(), ...trickyRecords()];
    await record(segs, key, inputs, { segmentMaxBytes: 8_000 }); // one batch per record, many segments
    const db = await openDb(dir);
    const threads = async () => (await one(db, `SELECT current_setting('threads') AS t`)).t;
    const threadsBefore = await threads();
    const r = await collect(segs, db);
    expect(await threads()).toBe(threadsBefore); // landing runs DuckDB on one thread, then gives the rest back
    const files = (await listSegments(segs)).segments;
    expect(files.length).toBeGreaterThan(5);
    expect(r).toMatchObject({ ok: true, segmentsSeen: files.length, alreadyLanded: [], rejected: [], open: [], findings: [], recordsLanded: inputs.length });
    expect(r.landed.map((s) => s.segment)).toEqual(files.map((f) => f.name));

    const expected = await segmentRecords(segs);
    const got = await all(db, `SELECT * REPLACE (epoch_us(ts) AS ts, lower(hex(prev_hash)) AS prev_hash, lower(hex(hash)) AS hash) FROM records ORDER BY seq`);
    expect(got).toHaveLength(expected.length);
    for (let i = 0; i < expected.length; i++) {
      const e = expected[i]!;
      const want = Object.fromEntries(COLUMNS.map(([name, type]) => [name, type === 'hash' ? hex(e[name] as Uint8Array) : e[name]]));
      expect(got[i]).toEqual(want);
    }
    // The values themselves, as the gateway handed them over (not only what the reader returns).
    const tricky = await all(db, `SELECT sql, application_name, claims, error_sqlstate, "rows", duration_us FROM records WHERE session_id = 'tricky' ORDER BY seq`);
    expect(tricky[0]).toMatchObject({ sql: trickyRecords()[0]!.sql, application_name: '', claims: '{"note":"comma, \\"quote\\""}' });
    expect(tricky[1]!.sql).toHaveLength(100_009);
    expect(tricky[2]).toMatchObject({ error_sqlstate: '', rows: 0, duration_us: 0 });
    expect(tricky[3]).toMatchObject({ rows: 9_007_199_254_740_991, duration_us: -1, error_sqlstate: null });
    expect(await one(db, `SELECT min(ts)::VARCHAR AS first FROM records`)).toEqual({ first: '2025-03-03 10:00:00+00' });

    // segments: one row per file, its digest, its seal's digest, the chain between them.
    const rows = await all(db, `SELECT * FROM segments ORDER BY first_seq`);
    expect(rows).toHaveLength(files.length);
    for (const [i, f] of files.entries()) {
      const seal = JSON.parse(await readFile(f.sealPath, 'utf8')) as Seal;
      expect(rows[i]).toMatchObject({
        gateway_id: 'gw-1',
        segment: f.name,
        segment_sha256: createHash('sha256').update(await readFile(f.path)).digest('hex'),
        first_seq: seal.first_seq,
        last_seq: seal.last_seq,
        records: seal.records,
        last_hash: seal.last_hash,
        first_prev_hash: seal.first_prev_hash,
        seal_sha256: sealDigest(bodyOf(seal)),
        prev_seal_sha256: i === 0 ? null : rows[i - 1]!.seal_sha256,
        key_id: key.keyId,
        run_id: r.runId,
        status: 'landed',
      });
    }
    expect(await all(db, `SELECT code, severity, count(*) AS n FROM verification_results GROUP BY ALL`)).toEqual([{ code: 'landed', severity: 'ok', n: files.length }]);
    expect(await one(db, `SELECT status, segments_seen, segments_landed, segments_rejected, records_landed, errors, finished_at IS NOT NULL AS finished FROM verification_runs`)).toEqual({
      status: 'ok',
      segments_seen: files.length,
      segments_landed: files.length,
      segments_rejected: 0,
      records_landed: inputs.length,
      errors: 0,
      finished: true,
    });
    expect(await one(db, `SELECT status, segments, records, records_in_table, gaps, verification_errors FROM integrity`)).toEqual({ status: 'ok', segments: files.length, records: inputs.length, records_in_table: inputs.length, gaps: 0, verification_errors: 0 });
  });

  it('lands nothing twice: a re-run skips what landed, a later run lands only what is new', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    await record(segs, key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
    const db = await openDb(dir);
    const first = await collect(segs, db);
    const again = await collect(segs, db);
    expect(again).toMatchObject({ ok: true, landed: [], recordsLanded: 0, rejected: [], findings: [] });
    expect(again.alreadyLanded).toEqual(first.landed.map((s) => s.segment));
    expect(await one(db, `SELECT count(*) AS n, count(DISTINCT seq) AS d FROM records`)).toEqual({ n: 30, d: 30 });

    // The gateway restarts and records more: the next collect lands only those, chained on.
    await record(segs, key, scriptedWorkload().slice(0, 5), { segmentMaxBytes: 8_000 });
    const third = await collect(segs, db);
    expect(third.ok).toBe(true);
    expect(third.recordsLanded).toBe(5);
    expect(third.alreadyLanded).toHaveLength(first.landed.length);
    expect(await one(db, `SELECT count(*) AS n, count(DISTINCT seq) AS d, max(seq) AS last FROM records`)).toEqual({ n: 35, d: 35, last: 35 });
    expect(await all(db, `SELECT status, segments_landed, segments_already_landed FROM verification_runs ORDER BY started_at`)).toEqual([
      { status: 'ok', segments_landed: first.landed.length, segments_already_landed: 0 },
      { status: 'ok', segments_landed: 0, segments_already_landed: first.landed.length },
      { status: 'ok', segments_landed: third.landed.length, segments_already_landed: first.landed.length },
    ]);
    expect((await one(db, `SELECT status, gaps FROM integrity`)).status).toBe('ok');
  });

  it('keeps gateways apart: each chain verified and landed on its own', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    await record(segs, key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
    await record(segs, key, scriptedWorkload().slice(0, 10), { gatewayId: 'gw-2', segmentMaxBytes: 8_000 });
    const db = await openDb(dir);
    const r = await collect(segs, db);
    expect(r).toMatchObject({ ok: true, findings: [], recordsLanded: 40 });
    expect(await all(db, `SELECT gateway_id, records, first_seq, last_seq, status FROM integrity ORDER BY gateway_id`)).toEqual([
      { gateway_id: 'gw-1', records: 30, first_seq: 1, last_seq: 30, status: 'ok' },
      { gateway_id: 'gw-2', records: 10, first_seq: 1, last_seq: 10, status: 'ok' },
    ]);
    expect(await all(db, `SELECT gateway_id, count(*) AS sessions FROM sessions GROUP BY ALL ORDER BY gateway_id`)).toEqual([
      { gateway_id: 'gw-1', sessions: 3 },
      { gateway_id: 'gw-2', sessions: 1 },
    ]);
  });

  it('records a tampered segment as a verification failure and does not land it; the others land', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    await record(segs, key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
    const files = (await listSegments(segs)).segments;
    let victim = files[0]!;
    for (const f of files) if ((await readFile(f.path)).includes('DELETE FROM orders')) victim = f;
    expect(victim).not.toBe(files[0]);
    const bytes = await readFile(victim.path);
    const at = bytes.indexOf('DELETE FROM orders');
    bytes.write('UPDATE', at, 'latin1'); // same length: only the hashes and the digest notice
    await writeFile(victim.path, bytes);

    const db = await openDb(dir);
    const r = await collect(segs, db);
    expect(r.ok).toBe(false);
    expect(r.rejected).toEqual([victim.name]);
    expect(r.landed.map((s) => s.segment)).toEqual(files.filter((f) => f !== victim).map((f) => f.name));
    const codes = [...new Set(r.findings.map((f) => f.code))].sort();
    expect(codes).toEqual(['bad_record', 'digest_mismatch']);
    expect(r.findings.every((f) => f.segment === victim.name && f.severity === 'error')).toBe(true);

    const seal = JSON.parse(await readFile(victim.sealPath, 'utf8')) as Seal;
    expect(await one(db, `SELECT count(*) AS n FROM records WHERE seq BETWEEN ${seal.first_seq} AND ${seal.last_seq}`)).toEqual({ n: 0 });
    expect(await one(db, `SELECT count(*) AS n FROM records`)).toEqual({ n: 30 - seal.records });
    expect(await all(db, `SELECT segment, code, severity FROM verification_results WHERE severity <> 'ok' ORDER BY code`)).toEqual([
      { segment: victim.name, code: 'bad_record', severity: 'error' },
      { segment: victim.name, code: 'digest_mismatch', severity: 'error' },
    ]);
    expect(await one(db, `SELECT status, errors, segments_rejected FROM verification_runs`)).toEqual({ status: 'failed', errors: 2, segments_rejected: 1 });
    expect(await one(db, `SELECT status, gaps, missing_records, segments_failed_unresolved, finding_codes FROM integrity`)).toEqual({
      status: 'attention',
      gaps: 1,
      missing_records: seal.records,
      segments_failed_unresolved: 1,
      finding_codes: ['bad_record', 'digest_mismatch'],
    });

    // Still refused on the next run, and still not landed; what landed stays landed once.
    const again = await collect(segs, db);
    expect(again.ok).toBe(false);
    expect(again.rejected).toEqual([victim.name]);
    expect(again.alreadyLanded).toHaveLength(files.length - 1);
    expect(await one(db, `SELECT count(*) AS n FROM records`)).toEqual({ n: 30 - seal.records });
  });

  it('continues the chain from what landed when the collected segments are gone (retention)', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    const work = scriptedWorkload();
    await record(segs, key, work.slice(0, 12), { segmentMaxBytes: 8_000 });
    const db = await openDb(dir);
    const first = await collect(segs, db);
    expect(first.ok).toBe(true);
    const collected = (await listSegments(segs)).segments;

    // The gateway restarts (its chain continues from the last seal), then retention removes
    // everything collected: the next collect sees only segments it has never seen.
    const r = await Recorder.open(recorderOptions(segs, key, { segmentMaxBytes: 8_000 }));
    for (const input of work.slice(12)) await r.append(input);
    await r.close();
    for (const f of collected) {
      await unlink(f.path);
      if (f !== collected[0]) await unlink(f.sealPath); // one seal left behind: a note, not an error
    }
    const second = await collect(segs, db);
    expect(second).toMatchObject({ ok: true, rejected: [], alreadyLanded: [] });
    expect(second.findings.map((f) => [f.code, f.severity])).toEqual([['orphan_seal', 'note']]);
    expect(second.recordsLanded).toBe(work.length - 12);
    expect(second.landed[0]!.firstSeq).toBe(13);
    expect(await one(db, `SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM records`)).toEqual({ n: 30, lo: 1, hi: 30 });
    expect(await one(db, `SELECT status, gaps, seal_chain_breaks, missing_start FROM integrity`)).toEqual({ status: 'ok', gaps: 0, seal_chain_breaks: 0, missing_start: false });
  });

  it('a segment deleted before it was collected is a gap, not silence', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    await record(segs, key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
    const files = (await listSegments(segs)).segments;
    await unlink(files[3]!.path); // its seal stays: an orphan
    const db = await openDb(dir);
    const r = await collect(segs, db);
    expect(r.ok).toBe(false);
    const codes = new Set(r.findings.map((f) => f.code));
    expect(codes).toContain('orphan_seal');
    expect(codes).toContain('sequence_gap');
    expect(r.rejected).toEqual([files[4]!.name]); // the one after the gap does not chain to what landed
  });

  it('first collect after retention: lands with a missing_start warning', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    await record(segs, key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
    const files = (await listSegments(segs)).segments;
    for (const f of files.slice(0, 3)) {
      await unlink(f.path);
      await unlink(f.sealPath);
    }
    const db = await openDb(dir);
    const r = await collect(segs, db);
    expect(r.ok).toBe(true);
    expect(r.findings.map((f) => [f.code, f.severity, f.segment])).toEqual([['missing_start', 'warning', files[3]!.name]]);
    expect(r.landed).toHaveLength(files.length - 3);
    expect(await one(db, `SELECT status, missing_start, verification_warnings FROM integrity`)).toEqual({ status: 'attention', missing_start: true, verification_warnings: 1 });
  });

  it('skips the unsealed last segment of a running gateway, says so, and lands it once sealed', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    const r = await Recorder.open(recorderOptions(segs, key, { segmentMaxBytes: 8_000 }));
    const work = scriptedWorkload();
    for (const input of work.slice(0, 7)) await r.append(input);
    const db = await openDb(dir);
    const running = await collect(segs, db);
    expect(running.ok).toBe(true);
    expect(running.open).toHaveLength(1);
    expect(running.findings.map((f) => [f.code, f.severity])).toEqual([['open', 'note']]);
    const landedSoFar = running.recordsLanded;
    expect(landedSoFar).toBeLessThan(7);

    for (const input of work.slice(7)) await r.append(input);
    await r.close();
    const after = await collect(segs, db);
    expect(after).toMatchObject({ ok: true, open: [], findings: [] });
    expect(after.recordsLanded).toBe(work.length - landedSoFar);
    expect(await one(db, `SELECT count(*) AS n, count(DISTINCT seq) AS d FROM records`)).toEqual({ n: work.length, d: work.length });
  });

  it('lands several segments per transaction; a transaction that fails lands none of its segments, and a later run lands them once', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    await record(segs, key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
    const files = (await listSegments(segs)).segments;
    const seals = await Promise.all(files.map(async (f) => JSON.parse(await readFile(f.sealPath, 'utf8')) as Seal));
    const db = await openDb(dir);
    // DuckDB will refuse the record of the 5th segment: a row with its sequence number is already there.
    const victim = seals[4]!;
    await db.connection.run(`CREATE UNIQUE INDEX records_seq ON records (gateway_id, seq)`);
    await db.connection.run(`INSERT INTO records (seq, kind, ts, gateway_id, prev_hash, hash) VALUES (${victim.first_seq}, 'statement', now(), 'gw-1', ''::BLOB, ''::BLOB)`);

    // Three segments' records per transaction: segments 1-3 commit; 4 and 5 are in the one that
    // fails, so neither lands; what was verified after it is not landed either (the run stops).
    const batchRecords = seals[0]!.records + seals[1]!.records + seals[2]!.records;
    await expect(collect(segs, db, { batchRecords })).rejects.toThrow(/landing failed, the run stopped/);
    expect(await all(db, `SELECT segment FROM segments ORDER BY first_seq`)).toEqual(files.slice(0, 3).map((f) => ({ segment: f.name })));
    expect(await one(db, `SELECT count(*) AS n FROM records WHERE seq > ${seals[2]!.last_seq}`)).toEqual({ n: 1 }); // only the planted row
    const results = await all(db, `SELECT segment, code FROM verification_results ORDER BY segment`);
    const failed = results.filter((r) => r.code === 'land_failed').map((r) => r.segment);
    expect(results.filter((r) => r.code === 'landed').map((r) => r.segment)).toEqual(files.slice(0, 3).map((f) => f.name));
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed).toEqual(files.slice(3, 3 + failed.length).map((f) => f.name));
    expect(results).toHaveLength(3 + failed.length);
    expect(await one(db, `SELECT status, segments_landed, segments_rejected FROM verification_runs`)).toEqual({ status: 'failed', segments_landed: 3, segments_rejected: failed.length });

    // Once the obstacle is gone, the next run lands the rest, each segment once.
    await db.connection.run(`DELETE FROM records WHERE hash = ''::BLOB`);
    const again = await collect(segs, db, { batchRecords });
    expect(again.ok).toBe(true);
    expect(again.alreadyLanded).toEqual(files.slice(0, 3).map((f) => f.name));
    expect(again.landed.map((l) => l.segment)).toEqual(files.slice(3).map((f) => f.name));
    expect(await one(db, `SELECT count(*) AS n, count(DISTINCT seq) AS d FROM records`)).toEqual({ n: 30, d: 30 });
    expect((await one(db, `SELECT status FROM integrity`)).status).toBe('ok');
  });

  it('finds a record cut out of a segment, inside a batch and at a batch boundary, and lands nothing of it', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    await recordVolume(segs, key, 20_000); // one segment, batches of up to 8,192 records
    const [file] = (await listSegments(segs)).segments;
    const { table } = await readSegment(file!.path);
    const batches = table.batches;
    expect(batches.length).toBeGreaterThan(2);
    const seqOf = (b: number, i: number) => Number(batches[b]!.getChild('seq')!.get(i));
    // Record 5 of the first batch, and the first record of the third: each one's neighbours no longer chain.
    const inside = seqOf(0, 5);
    const boundary = seqOf(2, 0);
    const cut = new Table([batches[0]!.slice(0, 5), batches[0]!.slice(6), batches[1]!, batches[2]!.slice(1), ...batches.slice(3)]);
    await writeFile(file!.path, tableToIPC(cut, 'stream'));

    const v = await verifySegmentFile(file!, key.publicKey, genesisPoint());
    const found = v.findings.filter((f) => f.code === 'sequence_gap' || f.code === 'chain_break').map((f) => f.message);
    expect(found).toEqual([
      `records ${inside}-${inside} are missing`,
      `record ${inside + 1} does not chain to record ${inside - 1}`,
      `records ${boundary}-${boundary} are missing`,
      `record ${boundary + 1} does not chain to record ${boundary - 1}`,
    ]);
    expect(v.findings.map((f) => f.code)).not.toContain('bad_record'); // each remaining record still matches its hash
    expect(v.end).toBeNull(); // nothing to continue the chain from

    const db = await openDb(dir);
    const r = await collect(segs, db);
    expect(r.ok).toBe(false);
    expect(r.rejected).toEqual([file!.name]);
    expect(await one(db, `SELECT count(*) AS n FROM records`)).toEqual({ n: 0 });
  });

  it('refuses a segment whose records were already landed from another file (a re-sealed copy)', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    await record(segs, key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
    const db = await openDb(dir);
    expect((await collect(segs, db)).ok).toBe(true);
    const files = (await listSegments(segs)).segments;
    const last = files.at(-1)!;
    const copy = join(segs, 'gw-1.0000000000009999.arrows');
    await writeFile(copy, await readFile(last.path));
    await writeFile(`${copy}.seal`, await readFile(last.sealPath));
    const r = await collect(segs, db);
    expect(r.ok).toBe(false);
    expect(r.rejected).toEqual(['gw-1.0000000000009999.arrows']);
    expect(await one(db, `SELECT count(*) AS n FROM records`)).toEqual({ n: 30 });
  });
});

describe('auditgate collect (command)', () => {
  const output = () => {
    const o = { out: '', err: '' };
    return { o, io: { stdout: (t: string) => (o.out += t), stderr: (t: string) => (o.err += t), progressColumns: null } };
  };

  it('prints what landed and what failed; ok is the exit status', async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    await record(segs, key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
    const pub = join(dir, 'segment-signing.pub.pem');
    await writeFile(pub, key.publicKey.export({ type: 'spki', format: 'pem' }));
    const args = { segments: segs, db: join(dir, 'evidence.duckdb'), 'public-key': pub };

    const { o, io } = output();
    const r = await runCollect(args, io);
    expect(r.ok).toBe(true);
    const files = (await listSegments(segs)).segments;
    expect(o.out).toMatch(new RegExp(`^collected ${segs} into .*evidence\\.duckdb \\(run ${r.runId}\\)\n  landed          gw-1: ${files.length} segments, 30 records \\(sequence 1-30\\)\nverified ${files.length} segments and landed 30 records in `));
    expect(o.err).toBe('');

    const victim = files[1]!;
    const bytes = await readFile(victim.path);
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0xff;
    await writeFile(victim.path, bytes);
    await record(segs, key, scriptedWorkload().slice(0, 3), { segmentMaxBytes: 1 << 20 });
    const second = output();
    const r2 = await runCollect(args, second.io);
    expect(r2.ok).toBe(false);
    expect(second.o.out).toContain(`  already landed  ${files.length - 1} segments (skipped)`);
    expect(second.o.out).toMatch(new RegExp(`  FAIL            ${victim.name.replaceAll('.', '\\.')}: digest_mismatch: `));
    expect(second.o.out).toContain(`1 segment failed verification or landing and was NOT landed: ${victim.name}`);
    expect(second.o.out).toContain(`verification_results (run_id = '${r2.runId}')`);
  });

  it('explains what is missing, and draws a progress bar on a terminal', async () => {
    const { io } = output();
    await expect(runCollect({ db: 'x.duckdb', 'public-key': 'k.pem' }, io)).rejects.toThrow(/--segments DIR is required/);
    await expect(runCollect({ segments: '.', 'public-key': 'k.pem' }, io)).rejects.toThrow(/--db FILE is required/);
    await expect(runCollect({ segments: '.', db: 'x.duckdb' }, io)).rejects.toThrow(/--public-key FILE/);
    await expect(runCollect({ segments: '.', db: 'x.duckdb', 'public-key': '/nonexistent.pem' }, io)).rejects.toBeInstanceOf(CliError);

    let drawn = '';
    const bar = progressBar((t) => (drawn += t), 200);
    bar.update({ segmentsDone: 1, segmentsTotal: 4, bytesDone: 50, bytesTotal: 100, recordsLanded: 1234, current: 'gw-1.0000000000000001.arrows' });
    bar.clear();
    expect(drawn).toBe(`\rcollect [${'█'.repeat(12)}${'░'.repeat(12)}]  50%  1/4 segments  1,234 records landed  gw-1.0000000000000001.arrows\x1b[K\r\x1b[K`);
  });
});

describe('collect: volume', () => {
  it('collects 1M records written by the recorder', { timeout: 600_000 }, async () => {
    const dir = await tempDir();
    const segs = join(dir, 'segments');
    const n = 1_000_000;
    const t0 = performance.now();
    await recordVolume(segs, key, n);
    const wrote = (performance.now() - t0) / 1000;
    const db = await openDb(dir);
    const r = await collect(segs, db, { overlap: false });
    expect(r).toMatchObject({ ok: true, recordsLanded: n, rejected: [], findings: [] });
    expect(await one(db, `SELECT count(*) AS n, count(DISTINCT seq) AS d, min(seq) AS lo, max(seq) AS hi FROM records`)).toEqual({ n, d: n, lo: 1, hi: n });
    expect((await one(db, `SELECT status FROM integrity`)).status).toBe('ok');
    const counts = await one(db, `SELECT (SELECT count(*) FROM sessions) AS sessions, (SELECT count(*) FROM statements) AS statements, (SELECT count(*) FROM masking_events) AS masked`);
    expect(counts.sessions).toBeGreaterThan(10_000);
    expect(counts.statements).toBeGreaterThan(400_000);
    expect(counts.masked).toBeGreaterThan(50_000);
    process.stdout.write(
      `collect volume: ${n.toLocaleString('en-US')} records in ${r.landed.length} segments (written in ${wrote.toFixed(1)} s); ` +
        `verify ${r.verifySeconds.toFixed(1)} s (${Math.round(n / r.verifySeconds).toLocaleString('en-US')} records/s), ` +
        `land ${r.landSeconds.toFixed(1)} s (${Math.round(n / r.landSeconds).toLocaleString('en-US')} rows/s), ` +
        `collect ${r.seconds.toFixed(1)} s (${Math.round(n / r.seconds).toLocaleString('en-US')} records/s)\n`,
    );
  });
});
