// `auditgate export parquet` against a real evidence database: real recorder segments landed by
// the collector, entitlement snapshots from the machine's PostgreSQL, a directory import; every
// check reads the Parquet back with DuckDB (read_parquet, hive partitioning) and compares it
// with the database.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExportParquet } from '../cli/commands/export.js';
import { CliError } from '../cli/errors.js';
import { packageVersion } from '../policies/locations.js';
import type { RecordInput } from '../proxy/recorder/schema.js';
import { freshKey } from '../proxy/recorder/test-support.js';
import { PG } from '../test/support/fixture-db.js';
import { runCli } from '../test/cli/run-cli.js';
import { collectEntitlements } from './entitlements.js';
import { openEvidenceDb } from './evidence-db.js';
import { EXPORT_TABLES, ExportError, exportParquet, portableColumn, type ExportManifest } from './export-parquet.js';
import { importIdentities } from './identities.js';
import { collectSegments } from './land-segments.js';
import { record, scriptedWorkload, T0 } from './segments.fixtures.js';

const DAY_US = 86_400_000_000;
const EDGE_BEFORE = Date.UTC(2025, 2, 3, 23, 59, 59) * 1000 + 999_999; // the last µs of 2025-03-03
const EDGE_AFTER = Date.UTC(2025, 2, 4) * 1000; // the first µs of 2025-03-04

/** Three UTC days of records: the scripted workload on 03-03 and (renamed) on 03-05, and two records either side of midnight. */
function workload(): RecordInput[] {
  const day3 = scriptedWorkload().map((r) => ({
    ...r,
    ts: r.ts! + 2 * DAY_US,
    ...(r.session_id ? { session_id: `${r.session_id}-d3` } : {}),
    ...(r.approval_id ? { approval_id: `${r.approval_id}-d3` } : {}),
  }));
  return [
    ...scriptedWorkload(),
    { kind: 'session_end', session_id: 'edge', detail: '{"reason":"midnight"}', ts: EDGE_BEFORE },
    { kind: 'statement', session_id: 'edge', statement_id: 1, sql: "SELECT 'Ünïcödé 表 🚀', E'tab\\t'\n;", tables: '[]', reasons: '[]', decision: 'allow', ts: EDGE_AFTER },
    ...day3,
  ];
}

const DIRECTORY_CSV = `subject,display_name,email,kind,owner,groups,status,created_at,disabled_at
human:alice,"Lovelace, Ada",alice@acme.test,human,,dba;eng,active,2024-01-10,
agent:claude-code,Shop agent,,agent,human:alice,agents,active,2024-03-01T12:00:00Z,
`;

let dir: string;
let dbPath: string;
const key = freshKey();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-export-'));
  dbPath = join(dir, 'evidence.duckdb');
  const segs = join(dir, 'segments');
  await record(segs, key, workload(), { segmentMaxBytes: 8_000 });
  const db = await openEvidenceDb(dbPath);
  try {
    expect((await collectSegments({ directory: segs, db, publicKey: key.publicKey })).ok).toBe(true);
    const postgres = `postgres://${PG.user}@${PG.host}:${PG.port}/postgres`;
    await collectEntitlements({ postgres, db, now: new Date('2025-02-20T12:00:00Z') });
    await collectEntitlements({ postgres, db, now: new Date('2025-03-04T08:00:00Z') });
    const csv = join(dir, 'people.csv');
    await writeFile(csv, DIRECTORY_CSV);
    await importIdentities({ file: csv, db, now: new Date('2025-03-01T09:00:00Z') });
    await importIdentities({ file: csv, db, now: new Date('2025-03-05T09:00:00Z') });
  } finally {
    db.close();
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let outs = 0;
const newOut = () => join(dir, `export-${++outs}`);

/** An in-memory DuckDB with the evidence database attached read-only as `ev`. */
async function withReader<T>(fn: (c: DuckDBConnection, q: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>, db = dbPath): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  try {
    await c.run(`SET TimeZone = 'UTC'`);
    await c.run(`ATTACH '${db}' AS ev (READ_ONLY)`);
    return await fn(c, async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[]);
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

const parquet = (out: string, table: string) => `read_parquet('${out}/${table}/**/*.parquet', hive_partitioning = true)`;

/** Each partitioned table's time column in the database, written independently of the exporter. */
const TIME: Record<string, [string, string]> = {
  records: ['ts', 'ev.records s'],
  sessions: ['started_at', 'ev.sessions s'],
  statements: ['ts', 'ev.statements s'],
  statement_tables: ['ts', 'ev.statement_tables s'],
  masking_events: ['ts', 'ev.masking_events s'],
  detector_events: ['ts', 'ev.detector_events s'],
  approvals: ['ts', 'ev.approvals s'],
  entitlement_snapshots: ['taken_at', 'ev.entitlement_snapshots s'],
  ent_roles: ['snapshot_at', 'ev.ent_roles s'],
  ent_memberships: ['snapshot_at', 'ev.ent_memberships s'],
  ent_privileges: ['snapshot_at', 'ev.ent_privileges s'],
  ent_default_privileges: ['snapshot_at', 'ev.ent_default_privileges s'],
  ent_rls_policies: ['snapshot_at', 'ev.ent_rls_policies s'],
  directory_imports: ['imported_at', 'ev.directory_imports s'],
  directory_identities: ['i.imported_at', 'ev.directory_identities s JOIN ev.directory_imports i ON i.import_id = s.import_id'],
};
const WHOLE = ['segments', 'verification_runs', 'verification_results'];

async function datesIn(q: (sql: string) => Promise<Record<string, unknown>[]>, out: string, table: string): Promise<Record<string, number>> {
  const rows = await q(`SELECT strftime(date, '%Y-%m-%d') AS d, count(*)::INTEGER AS n FROM ${parquet(out, table)} GROUP BY ALL ORDER BY d`).catch(() => []);
  return Object.fromEntries(rows.map((r) => [String(r.d), Number(r.n)]));
}

async function parquetFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.parquet')) out.push(relative(root, join(e.parentPath, e.name)).split(sep).join('/'));
  }
  return out.sort();
}

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

describe('export parquet', () => {
  it('exports every table, partitioned by the UTC date of its time column, with the rows of the database', async () => {
    const out = newOut();
    const r = await exportParquet({ db: dbPath, out });
    expect(r.manifest.tables.map((t) => t.name)).toEqual([...Object.keys(TIME).slice(0, 7), ...WHOLE, ...Object.keys(TIME).slice(7)]);
    await withReader(async (_c, q) => {
      for (const [table, [time, from]] of Object.entries(TIME)) {
        const want = await q(`SELECT strftime(CAST(timezone('UTC', ${time.includes('.') ? time : `s.${time}`}) AS DATE), '%Y-%m-%d') AS d, count(*)::INTEGER AS n FROM ${from} GROUP BY ALL ORDER BY d`);
        if (!want.length) {
          // The machine's PostgreSQL has no default privileges or RLS policies to snapshot: no files.
          expect(['ent_default_privileges', 'ent_rls_policies'], `${table} has rows to export`).toContain(table);
          expect(await parquetFiles(join(out, table))).toEqual([]);
          continue;
        }
        expect(await datesIn(q, out, table), table).toEqual(Object.fromEntries(want.map((w) => [String(w.d), Number(w.n)])));
        // The same rows, column for column (the partition key is the directory, not a column).
        for (const [a, b] of [
          [`SELECT s.* FROM ${from}`, `SELECT * EXCLUDE (date) FROM ${parquet(out, table)}`],
          [`SELECT * EXCLUDE (date) FROM ${parquet(out, table)}`, `SELECT s.* FROM ${from}`],
        ]) {
          expect((await q(`SELECT count(*)::INTEGER AS n FROM (${a} EXCEPT ALL ${b})`))[0]!.n, `${table}: ${a} minus the other`).toBe(0);
        }
      }
      for (const table of WHOLE) {
        expect(await parquetFiles(join(out, table))).toEqual(['data_0.parquet']);
        const [n] = await q(`SELECT (SELECT count(*) FROM ev.${table})::INTEGER AS db, (SELECT count(*) FROM read_parquet('${out}/${table}/data_0.parquet'))::INTEGER AS pq`);
        expect(n!.pq).toBe(n!.db);
        expect(n!.db).toBeGreaterThan(0);
        expect((await q(`SELECT count(*)::INTEGER AS n FROM (SELECT * FROM ev.${table} EXCEPT ALL SELECT * FROM read_parquet('${out}/${table}/data_0.parquet'))`))[0]!.n).toBe(0);
      }
    });
    expect(await datesIn((sql) => withReader(async (_c, q) => q(sql)), out, 'records')).toEqual({ '2025-03-03': 31, '2025-03-04': 1, '2025-03-05': 30 });
  });

  it('carries values exactly: hashes, microsecond UTC timestamps, JSON text, lists, unicode; in types every engine reads', async () => {
    const out = newOut();
    await exportParquet({ db: dbPath, out });
    await withReader(async (_c, q) => {
      const cols = `seq, epoch_us(ts) AS ts, lower(hex(hash)) AS hash, lower(hex(prev_hash)) AS prev_hash, kind, session_id, sql, claims, tables, detail`;
      const fromDb = await q(`SELECT ${cols} FROM ev.records ORDER BY seq`);
      const fromPq = await q(`SELECT ${cols}, strftime(date, '%Y-%m-%d') AS date FROM ${parquet(out, 'records')} ORDER BY seq`);
      expect(fromPq.map(({ date: _d, ...rest }) => rest)).toEqual(fromDb);
      expect(fromDb).toHaveLength(62);
      expect(fromPq.find((r) => Number(r.ts) === EDGE_BEFORE)!.date).toBe('2025-03-03');
      expect(fromPq.find((r) => Number(r.ts) === EDGE_AFTER)).toMatchObject({ date: '2025-03-04', sql: "SELECT 'Ünïcödé 表 🚀', E'tab\\t'\n;" });
      expect(fromPq[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(Number(fromPq[0]!.ts)).toBe(T0);

      const types = async (table: string) => Object.fromEntries((await q(`DESCRIBE SELECT * FROM ${parquet(out, table)}`)).map((r) => [r.column_name, r.column_type]));
      expect(await types('records')).toMatchObject({ ts: 'TIMESTAMP WITH TIME ZONE', hash: 'BLOB', seq: 'BIGINT', claims: 'VARCHAR', date: 'DATE' });
      expect(await types('sessions')).toMatchObject({ groups: 'VARCHAR[]', claims: 'VARCHAR', started_at: 'TIMESTAMP WITH TIME ZONE', duration_seconds: 'DOUBLE' });
      expect(await types('statements')).toMatchObject({ tables: 'VARCHAR', reasons: 'VARCHAR', masked: 'VARCHAR' });

      // What the files declare: UTF-8 strings (JSON as plain text, not Parquet's JSON annotation),
      // INT64 timestamps in µs adjusted to UTC, binary hashes; zstd pages.
      const schema = await q(`SELECT name, type, converted_type, logical_type FROM parquet_schema('${out}/statements/**/*.parquet') WHERE name IN ('ts', 'tables', 'sql')`);
      const byName = Object.fromEntries(schema.map((r) => [r.name, r]));
      expect(byName.tables).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' });
      expect(byName.ts).toMatchObject({ type: 'INT64', converted_type: 'TIMESTAMP_MICROS' });
      expect(String(byName.ts!.logical_type)).toMatch(/isAdjustedToUTC=1.*MICROS=MicroSeconds/);
      const hash = await q(`SELECT type, converted_type, logical_type FROM parquet_schema('${out}/records/**/*.parquet') WHERE name = 'hash'`);
      expect(hash[0]).toEqual({ type: 'BYTE_ARRAY', converted_type: null, logical_type: null });
      expect(await q(`SELECT DISTINCT compression FROM parquet_metadata('${out}/**/*.parquet')`)).toEqual([{ compression: 'ZSTD' }]);

      // The JSON text is the recorded text, and the views' flattening survives.
      const [st] = await q(`SELECT p.tables AS pq, r.tables AS raw FROM ${parquet(out, 'statements')} p JOIN ev.records r USING (gateway_id, seq) WHERE p.statement_id = 1 AND p.session_id = 'sess-agent-1'`);
      expect(st!.pq).toBe(st!.raw);
      expect(JSON.parse(String(st!.pq))).toEqual([{ schema: 'public', name: 'customers', access: 'read' }]);
      const [s] = await q(`SELECT groups, agent_model FROM ${parquet(out, 'sessions')} WHERE session_id = 'sess-agent-1'`);
      expect(s).toEqual({ groups: ['agents'], agent_model: 'claude-sonnet-4' });
    });
  });

  it('a window exports whole UTC days of records, and the entitlement snapshot and directory import in force when it starts', async () => {
    const dates = async (out: string) =>
      withReader(async (_c, q) => {
        const got: Record<string, string[]> = {};
        for (const t of ['records', 'sessions', 'approvals', 'entitlement_snapshots', 'ent_privileges', 'directory_imports', 'directory_identities']) got[t] = Object.keys(await datesIn(q, out, t));
        return got;
      });

    const mid = newOut();
    const r = await exportParquet({ db: dbPath, out: mid, from: '2025-03-04', to: '2025-03-05' });
    expect(await dates(mid)).toEqual({
      records: ['2025-03-04', '2025-03-05'],
      sessions: ['2025-03-05'],
      approvals: ['2025-03-05'],
      entitlement_snapshots: ['2025-02-20', '2025-03-04'], // 02-20's was in force on 03-04 at 00:00
      ent_privileges: ['2025-02-20', '2025-03-04'],
      directory_imports: ['2025-03-01', '2025-03-05'],
      directory_identities: ['2025-03-01', '2025-03-05'],
    });
    expect(r.manifest.window).toEqual({ from: '2025-03-04', to: '2025-03-05', time_zone: 'UTC' });
    expect(r.manifest.tables.find((t) => t.name === 'records')).toMatchObject({ from: '2025-03-04', to: '2025-03-05', rows: 31, dates: 2 });
    expect(r.manifest.tables.find((t) => t.name === 'entitlement_snapshots')).toMatchObject({ from: '2025-02-20', to: '2025-03-05', rows: 2 });
    // The small tables are whole whatever the window: a later export is always a superset.
    expect(r.manifest.tables.find((t) => t.name === 'segments')).toMatchObject({ partitioned_by: null, from: null, to: null });
    const segments = await withReader(async (_c, q) => (await q(`SELECT count(*)::INTEGER AS n FROM ev.segments`))[0]!.n);
    expect(r.manifest.tables.find((t) => t.name === 'segments')!.rows).toBe(segments);

    const late = newOut();
    await exportParquet({ db: dbPath, out: late, from: '2025-03-05' });
    expect(await dates(late)).toMatchObject({ records: ['2025-03-05'], entitlement_snapshots: ['2025-03-04'], directory_imports: ['2025-03-01', '2025-03-05'] });

    const early = newOut();
    await exportParquet({ db: dbPath, out: early, to: '2025-03-03' });
    expect(await dates(early)).toMatchObject({ records: ['2025-03-03'], sessions: ['2025-03-03'], entitlement_snapshots: ['2025-02-20'], directory_imports: ['2025-03-01'] });

    // A partition is the whole day whichever window wrote it: the 03-05 records of both exports are the same.
    const same = await withReader(async (_c, q) =>
      q(`SELECT count(*)::INTEGER AS n FROM (SELECT * FROM ${parquet(mid, 'records')} WHERE date = DATE '2025-03-05' EXCEPT ALL SELECT * FROM ${parquet(late, 'records')})`),
    );
    expect(same[0]!.n).toBe(0);
  });

  it('writes export-manifest.json: every file with its sha256, size and row count, the source database and its hash', async () => {
    const out = newOut();
    const r = await exportParquet({ db: dbPath, out, now: () => new Date('2025-04-01T00:00:00Z') });
    const m = JSON.parse(await readFile(join(out, 'export-manifest.json'), 'utf8')) as ExportManifest;
    expect(m).toEqual(r.manifest);
    expect(m).toMatchObject({ format: 'auditgate-parquet-export', version: 1, tool: 'auditgate', tool_version: packageVersion(), exported_at: '2025-04-01T00:00:00.000Z' });
    expect(m.source).toMatchObject({ path: dbPath, sha256: await sha256(dbPath), wal: null });
    expect(m.source.schema).toMatchObject({ records: expect.any(Number), views: expect.any(Number) });

    // Nothing unlisted, nothing missing; every hash, size and count is the file's.
    expect(m.files.map((f) => f.path)).toEqual(await parquetFiles(out));
    const footers = await withReader(async (_c, q) => q(`SELECT file_name, num_rows::INTEGER AS rows FROM parquet_file_metadata('${out}/**/*.parquet')`));
    const rowsOf = new Map(footers.map((f) => [relative(out, String(f.file_name)).split(sep).join('/'), Number(f.rows)]));
    for (const f of m.files) {
      const bytes = await readFile(join(out, f.path));
      expect({ sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, rows: rowsOf.get(f.path) }, f.path).toEqual({ sha256: f.sha256, bytes: f.bytes, rows: f.rows });
      expect(f.date).toBe(/date=([\d-]+)\//.exec(f.path)?.[1] ?? null);
      expect(f.path.startsWith(`${f.table}/`)).toBe(true);
    }
    for (const t of m.tables) expect(t.rows, t.name).toBe(m.files.filter((f) => f.table === t.name).reduce((n, f) => n + f.rows, 0));
  });

  it('refuses a non-empty directory; --force replaces an earlier export and touches nothing else', async () => {
    const out = newOut();
    await mkdir(out);
    await writeFile(join(out, 'NOTES.txt'), 'mine');
    await expect(exportParquet({ db: dbPath, out })).rejects.toThrow(/is not empty: export into a new or empty directory, or pass --force/);
    await expect(exportParquet({ db: dbPath, out, force: true })).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/holds no export-manifest\.json: --force replaces an earlier export/) });
    expect(await readdir(out)).toEqual(['NOTES.txt']);

    const exp = newOut();
    await exportParquet({ db: dbPath, out: exp });
    await writeFile(join(exp, 'NOTES.txt'), 'mine');
    await expect(exportParquet({ db: dbPath, out: exp, from: '2025-03-05' })).rejects.toMatchObject({ kind: 'usage' });
    const r = await exportParquet({ db: dbPath, out: exp, from: '2025-03-05', force: true });
    expect(await readFile(join(exp, 'NOTES.txt'), 'utf8')).toBe('mine');
    expect(await parquetFiles(exp)).toEqual(r.manifest.files.map((f) => f.path));
    expect(r.manifest.files.filter((f) => f.table === 'records').map((f) => f.date)).toEqual(['2025-03-05']);
  });

  it('rebuilds an evidence database from the export: the auditor views agree with the original', async () => {
    const out = newOut();
    const { manifest } = await exportParquet({ db: dbPath, out });
    const rebuilt = join(dir, 'rebuilt.duckdb');
    const db = await openEvidenceDb(rebuilt); // an empty evidence database: tables and views
    try {
      for (const t of ['records', 'segments', 'verification_runs', 'verification_results', 'entitlement_snapshots', 'ent_roles', 'ent_memberships', 'ent_privileges', 'ent_default_privileges', 'ent_rls_policies', 'directory_imports', 'directory_identities']) {
        const exported = manifest.tables.find((x) => x.name === t)!;
        if (exported.rows === 0) continue; // no files to read
        await db.connection.run(`INSERT INTO ${t} BY NAME SELECT * ${exported.partitioned_by ? 'EXCLUDE (date) ' : ''}FROM ${parquet(out, t)}`);
      }
    } finally {
      db.close();
    }
    // Opened for writing again (as the next `auditgate collect` does): derives the statement tables from the loaded records.
    (await openEvidenceDb(rebuilt)).close();
    const views = ['integrity', 'access_matrix', 'approval_trail', 'masking_attestation', 'privileged_actions', 'policy_bundles', 'sessions'];
    const read = async (path: string) => {
      const d = await openEvidenceDb(path, { readOnly: true });
      try {
        const got: Record<string, string[]> = {};
        for (const v of views) got[v] = ((await d.connection.runAndReadAll(`SELECT * FROM ${v}`)).getRowObjectsJson() as unknown[]).map((x) => JSON.stringify(x)).sort();
        return got;
      } finally {
        d.close();
      }
    };
    const [before, after] = [await read(dbPath), await read(rebuilt)];
    for (const v of views) expect(after[v], v).toEqual(before[v]);
    expect(before.access_matrix!.length).toBeGreaterThan(0);
  });

  it('says clearly why it cannot export, and leaves nothing behind when a table cannot be written portably', async () => {
    await expect(exportParquet({ db: join(dir, 'nope.duckdb'), out: newOut() })).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/^no evidence database at .*nope\.duckdb$/) });
    const text = join(dir, 'notes.duckdb');
    await writeFile(text, 'not a database\n'.repeat(1000));
    await expect(exportParquet({ db: text, out: newOut() })).rejects.toMatchObject({ kind: 'source', message: expect.stringMatching(/cannot open the evidence database/) });
    const plain = join(dir, 'plain.duckdb');
    const inst = await DuckDBInstance.create(plain);
    (await inst.connect()).closeSync();
    inst.closeSync();
    await expect(exportParquet({ db: plain, out: newOut() })).rejects.toMatchObject({ kind: 'source', message: expect.stringMatching(/is not an auditgate evidence database/) });
    await expect(exportParquet({ db: dbPath, out: join(text, 'sub') })).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/^cannot use .*notes\.duckdb\/sub as the export directory: ENOTDIR/) });
    await expect(exportParquet({ db: dbPath, out: newOut(), from: '2025-02-30' })).rejects.toMatchObject({ kind: 'usage', message: '--from "2025-02-30" is not a date: write YYYY-MM-DD (a UTC day)' });
    await expect(exportParquet({ db: dbPath, out: newOut(), from: '2025-03-05', to: '2025-03-04' })).rejects.toThrow('--from 2025-03-05 is after --to 2025-03-04');

    // A view whose column has no portable mapping (a UUID) stops the export after the tables
    // before it were written: they are removed and no manifest is written.
    const odd = join(dir, 'odd.duckdb');
    await copyFile(dbPath, odd);
    const o = await DuckDBInstance.create(odd);
    const oc = await o.connect();
    await oc.run(`CREATE OR REPLACE VIEW detector_events AS SELECT gen_random_uuid() AS detector_id, * FROM statements WHERE false`);
    oc.closeSync();
    o.closeSync();
    const out = newOut();
    const err = await exportParquet({ db: odd, out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect(err).toMatchObject({ kind: 'source', message: 'detector_events.detector_id is UUID, which auditgate has no portable Parquet mapping for: the export would not read back the same in every engine' });
    expect(await readdir(out)).toEqual([]);
  });

  it('maps column types to portable Parquet, and refuses the ones it has no mapping for', () => {
    expect(portableColumn('t', 'claims', 'JSON')).toBe('CAST(s."claims" AS VARCHAR) AS "claims"');
    expect(portableColumn('t', 'x', 'JSON[]')).toBe('CAST(s."x" AS VARCHAR[]) AS "x"');
    expect(portableColumn('t', 'rows', 'BIGINT')).toBe('s."rows"');
    expect(portableColumn('t', 'groups', 'VARCHAR[]')).toBe('s."groups"');
    expect(portableColumn('t', 'ts', 'TIMESTAMP WITH TIME ZONE')).toBe('s."ts"');
    for (const type of ['UUID', 'HUGEINT', 'UBIGINT', 'TIMESTAMP', 'INTERVAL', 'STRUCT(a INTEGER)', 'MAP(VARCHAR, INTEGER)']) {
      expect(() => portableColumn('t', 'c', type), type).toThrow(`t.c is ${type}, which auditgate has no portable Parquet mapping for`);
    }
  });
});

describe('auditgate export parquet (CLI)', () => {
  it('prints one line per table on a terminal, and only the summary otherwise', async () => {
    const lines: string[] = [];
    let stdout = '';
    const out = newOut();
    await runExportParquet({ db: dbPath, out }, { stdout: (t) => (stdout += t), stderr: (t) => lines.push(t), progress: true });
    expect(lines[0]).toBe(`exporting ${dbPath} to ${out}\n`);
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual(EXPORT_TABLES.map((t) => t.name));
    expect(lines[1]).toMatch(/^ {2}records +62 rows {2}3 dates by ts +[\d.]+ KiB {2}[\d.]+ s\n$/);
    expect(lines.find((l) => l.includes('segments'))).toMatch(/ rows {2}whole table /);
    expect(stdout).toMatch(new RegExp(`^exported [\\d,]+ rows of ${EXPORT_TABLES.length} tables from .* to ${out}: \\d+ files, [\\d.]+ KiB in [\\d.]+ s; manifest ${out}/export-manifest.json\\n$`));

    let quiet = '';
    await runExportParquet({ db: dbPath, out: newOut(), from: '2025-03-03', to: '2025-03-03' }, { stdout: (t) => (quiet += t), stderr: () => expect.fail('no progress off a terminal'), progress: false });
    expect(quiet).toMatch(/^exported [\d,]+ rows of \d+ tables \(2025-03-03 to 2025-03-03, UTC\) from /);
    await expect(runExportParquet({ db: dbPath, out, force: false }, { stdout: () => {}, stderr: () => {}, progress: false })).rejects.toEqual(
      new CliError(`${out} is not empty: export into a new or empty directory, or pass --force to replace the export in it`, 2),
    );
  });

  it('runs from the built CLI: UTC dates whatever the local time zone, exit status 2 for usage, 1 for a database it cannot export', async () => {
    const out = newOut();
    // UTC+14: a local-time date would put the 03-03 evening records on 03-04.
    const env = { TZ: 'Pacific/Kiritimati' };
    const ok = await runCli(['export', 'parquet', '--db', dbPath, '--out', out], { env });
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toMatch(/^exported [\d,]+ rows of \d+ tables from /);
    expect(await readdir(join(out, 'records'))).toEqual(['date=2025-03-03', 'date=2025-03-04', 'date=2025-03-05']);
    const m = JSON.parse(await readFile(join(out, 'export-manifest.json'), 'utf8')) as ExportManifest;
    expect(m.files.filter((f) => f.table === 'records').map((f) => [f.date, f.rows])).toEqual([['2025-03-03', 31], ['2025-03-04', 1], ['2025-03-05', 30]]);

    const again = await runCli(['export', 'parquet', '--db', dbPath, '--out', out], { env });
    expect(again).toMatchObject({ code: 2, stdout: '' });
    expect(again.stderr).toBe(`auditgate: ${out} is not empty: export into a new or empty directory, or pass --force to replace the export in it\n`);
    expect((await runCli(['export', 'parquet', '--db', dbPath, '--out', out, '--force', '--to', '2025-03-03'], { env })).code).toBe(0);
    expect(await readdir(join(out, 'records'))).toEqual(['date=2025-03-03']);

    expect(await runCli(['export', 'parquet', '--db', join(dir, 'missing.duckdb'), '--out', newOut()])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^auditgate: no evidence database at /) });
    const notDb = join(dir, 'cli-not-a-db.duckdb');
    await writeFile(notDb, 'hello\n'.repeat(2000));
    expect(await runCli(['export', 'parquet', '--db', notDb, '--out', newOut()])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^auditgate: cannot open the evidence database /) });
    expect(await runCli(['export', 'parquet', '--db', dbPath, '--out', newOut(), '--to', '03/05/2025'])).toMatchObject({ code: 2, stderr: 'auditgate: --to "03/05/2025" is not a date: write YYYY-MM-DD (a UTC day)\n' });
    expect((await runCli(['export'])).code).toBe(2);
  });
});
