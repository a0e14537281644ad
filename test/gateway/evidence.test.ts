// End to end: a real agent session through the gateway and real PostgreSQL, recorded, then
// collected (verified and landed) into a real DuckDB file: the auditor's tables and views
// show exactly what happened, and `auditgate replay` tells it back.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvidenceDb, type EvidenceDb } from '../../collectors/evidence-db.js';
import { collectSegments } from '../../collectors/land-segments.js';
import { loadPublicKey } from '../../proxy/recorder/keys.js';
import { directQuery } from '../support/fixture-db.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';
import { runCli } from '../cli/run-cli.js';

let gw: TestGateway;
let work: string;
let db: EvidenceDb;
let sessionId: string;
const tag = `ev-${process.pid}-${Date.now()}`;

const rows = async (sql: string) => (await db.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];

beforeAll(async () => {
  gw = await startTestGateway();
  work = await mkdtemp(join(tmpdir(), 'auditgate-ev-'));
  const client = new pg.Client(gw.pgConfig(await gw.token({ sub: 'agent:evidence', groups: ['agents', 'agent-writers'], claims: { model: 'claude-test', repository: 'acme/shop', ticket: 'OPS-9' } })));
  await client.connect();
  await client.query('SELECT 1 AS one');
  await client.query('SELECT name, ssn FROM customers ORDER BY id');
  await expect(client.query('DELETE FROM orders')).rejects.toThrow(/denied/);
  await client.query('INSERT INTO scratch.notes (body) VALUES ($1)', [tag]);
  await client.end();
  await gw.running.close();
  db = await openEvidenceDb(join(work, 'evidence.duckdb'));
  const result = await collectSegments({ directory: join(gw.dir, 'segments'), db, publicKey: await loadPublicKey(join(gw.dir, 'keys/segment-signing.pub.pem')) });
  expect(result.ok).toBe(true);
  expect(result.rejected).toEqual([]);
  sessionId = String((await rows(`SELECT session_id FROM sessions WHERE subject = 'agent:evidence'`))[0]!.session_id);
});

afterAll(async () => {
  db?.close();
  await rm(work, { recursive: true, force: true });
  await rm(gw.dir, { recursive: true, force: true });
  await directQuery('DELETE FROM scratch.notes WHERE body = $1', [tag]);
});

describe('a gateway session, collected into DuckDB', () => {
  it('lands the session with its identity and every statement with decision and outcome', async () => {
    const s = await rows(`SELECT statement_id, sql, decision, executed, "rows", error_sqlstate FROM statements WHERE session_id = '${sessionId}' ORDER BY statement_id`);
    expect(s).toEqual([
      { statement_id: '1', sql: 'SELECT 1 AS one', decision: 'allow', executed: 'yes', rows: '1', error_sqlstate: null },
      { statement_id: '2', sql: 'SELECT name, ssn FROM customers ORDER BY id', decision: 'allow', executed: 'yes', rows: '2', error_sqlstate: null },
      { statement_id: '3', sql: 'DELETE FROM orders', decision: expect.stringMatching(/deny|approval_required/), executed: 'no', rows: null, error_sqlstate: null },
      { statement_id: '4', sql: 'INSERT INTO scratch.notes (body) VALUES ($1)', decision: 'allow', executed: 'yes', rows: '1', error_sqlstate: null },
    ]);
  });

  it('shows what was masked, per column, and the tables each statement touched', async () => {
    const masked = await rows(`SELECT column_ref, values_masked FROM masking_events WHERE session_id = '${sessionId}' ORDER BY column_ref`);
    expect(masked).toContainEqual({ column_ref: 'public.customers.ssn', values_masked: '2' });
    const tables = await rows(`SELECT statement_id, table_name, access FROM statement_tables WHERE session_id = '${sessionId}' ORDER BY statement_id, table_name`);
    expect(tables).toEqual(expect.arrayContaining([{ statement_id: '2', table_name: 'customers', access: 'read' }, { statement_id: '4', table_name: 'notes', access: 'write' }]));
  });

  it('counts the session in the integrity view with no gaps or failures', async () => {
    const [integrity] = await rows('SELECT gaps, missing_records, seal_chain_breaks, missing_start, verification_errors, records FROM integrity');
    expect(integrity).toMatchObject({ gaps: '0', missing_records: '0', seal_chain_breaks: '0', missing_start: false, verification_errors: '0' });
    expect(Number(integrity!.records)).toBeGreaterThanOrEqual(7);
  });

  it('replays the session as a transcript', async () => {
    db.close();
    const r = await runCli(['replay', sessionId, '--db', join(work, 'evidence.duckdb')]);
    db = await openEvidenceDb(join(work, 'evidence.duckdb'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('agent:evidence');
    expect(r.stdout).toContain('SELECT name, ssn FROM customers ORDER BY id');
    expect(r.stdout).toContain('DELETE FROM orders');
    expect(r.stdout).toMatch(/public\.customers\.ssn/);
  });
});
