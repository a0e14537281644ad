import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runQuery } from '../cli/commands/query.js';
import { CliError } from '../cli/errors.js';
import { freshKey } from '../proxy/recorder/test-support.js';
import { openEvidenceDb } from './evidence-db.js';
import { collectSegments } from './land-segments.js';
import { formatResult, QueryRefused, runReadOnlyQuery } from './query.js';
import { record, scriptedWorkload } from './segments.fixtures.js';

let dir: string;
let dbPath: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-query-'));
  const key = freshKey();
  await record(join(dir, 'segments'), key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
  dbPath = join(dir, 'evidence.duckdb');
  const db = await openEvidenceDb(dbPath);
  expect((await collectSegments({ directory: join(dir, 'segments'), db, publicKey: key.publicKey })).ok).toBe(true);
  db.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function query(sql: string, format: 'table' | 'csv' | 'json' = 'table'): Promise<string> {
  let out = '';
  await runQuery({ db: dbPath, sql, format }, (t) => (out += t));
  return out;
}

describe('auditgate query', () => {
  it('prints a result as a table, CSV or JSON', async () => {
    const sql = `SELECT session_id, subject, statements, started_at FROM sessions WHERE session_id IS NOT NULL ORDER BY started_at`;
    expect(await query(sql)).toBe(
      [
        'session_id   │ subject           │ statements │ started_at',
        '─────────────┼───────────────────┼────────────┼───────────────────────',
        'sess-agent-1 │ agent:claude-code │          8 │ 2025-03-03 10:00:01+00',
        'sess-alice-1 │ human:alice       │          4 │ 2025-03-03 10:00:19+00',
        '(2 rows)',
        '',
      ].join('\n'),
    );
    expect(await query(sql, 'csv')).toBe('session_id,subject,statements,started_at\r\nsess-agent-1,agent:claude-code,8,2025-03-03 10:00:01+00\r\nsess-alice-1,human:alice,4,2025-03-03 10:00:19+00\r\n');
    expect(JSON.parse(await query(sql, 'json'))).toEqual([
      { session_id: 'sess-agent-1', subject: 'agent:claude-code', statements: 8, started_at: '2025-03-03 10:00:01+00' },
      { session_id: 'sess-alice-1', subject: 'human:alice', statements: 4, started_at: '2025-03-03 10:00:19+00' },
    ]);
    expect(JSON.parse(await query(`SELECT s.groups, lower(hex(r.hash)) = lower(hex(r.hash)) AS same, NULL AS nothing FROM sessions s JOIN records r ON r.seq = s.start_seq WHERE s.session_id = 'sess-agent-1'`, 'json'))).toEqual([{ groups: ['agents'], same: true, nothing: null }]);
  });

  it('refuses statements that write, before running anything, and leaves the database untouched', async () => {
    const before = (await stat(dbPath)).mtimeMs;
    for (const sql of [
      `DELETE FROM records`,
      `UPDATE segments SET status = 'landed'`,
      `INSERT INTO verification_results SELECT * FROM verification_results`,
      `DROP VIEW integrity`,
      `CREATE TABLE x AS SELECT 1`,
      `COPY records TO '${join(dir, 'leak.csv')}'`,
      `ATTACH '${join(dir, 'other.duckdb')}' AS other`,
      `EXPORT DATABASE '${join(dir, 'export')}'`,
      `SELECT 1; DELETE FROM records`,
      `EXPLAIN ANALYZE SELECT count(*) FROM records`,
      `SELECT * FROM read_csv('/etc/passwd')`,
    ]) {
      const err = await query(sql).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, sql).toBeInstanceOf(CliError);
      expect((err as CliError).message, sql).toMatch(/^auditgate query is read-only/);
      expect((err as CliError).exitCode).toBe(2);
    }
    expect((await query(`SELECT count(*) AS n FROM records`, 'json')).replace(/\s/g, '')).toBe('[{"n":30}]');
    expect((await stat(dbPath)).mtimeMs).toBe(before);
    expect((await readdir(dir)).sort()).toEqual(['evidence.duckdb', 'segments']);
  });

  it('says what failed for SQL DuckDB cannot run', async () => {
    await expect(query('SELECT nope FROM records')).rejects.toThrow(/^the query failed: .*nope/s);
    await expect(query('   ')).rejects.toThrow(/no SQL given/);
  });

  it('opens the database read-only: DuckDB itself refuses a write that got past the check', async () => {
    const db = await openEvidenceDb(dbPath, { readOnly: true });
    try {
      await expect(db.connection.run('DELETE FROM records')).rejects.toThrow(/read-only/i);
      await expect(runReadOnlyQuery(db.connection, 'DELETE FROM records')).rejects.toBeInstanceOf(QueryRefused);
      const r = await runReadOnlyQuery(db.connection, "SET TimeZone = 'UTC'; SELECT count(*) AS n FROM statements WHERE executed = 'yes'");
      expect(formatResult(r, 'csv')).toBe('n\r\n8\r\n');
    } finally {
      db.close();
    }
  });
});
