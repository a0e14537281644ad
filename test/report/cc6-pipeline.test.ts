// The CC6 packet from a real pipeline: agents' sessions through a real gateway (approvals held
// in a real control database) against real PostgreSQL, recorded, collected into DuckDB, then
// `auditgate report cc6` and `auditgate verify`. The packet's figures match the activity that
// was driven; every number on index.html is re-derived from queries/ against the evidence DB;
// the page renders in headless Chromium; tampering of any kind is caught.
import { randomUUID } from 'node:crypto';
import { appendFile, cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvidenceDb } from '../../collectors/evidence-db.js';
import { collectSegments } from '../../collectors/land-segments.js';
import type { ApprovalRequest } from '../../proxy/approvals/types.js';
import { freshKey } from '../../proxy/recorder/test-support.js';
import { loadPublicKey, publicKeyPem } from '../../proxy/recorder/keys.js';
import { runCli } from '../cli/run-cli.js';
import { PG, directQuery, serverQuery } from '../support/fixture-db.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';
import { checkFigureReferences } from '../../reports/cc6/test-support.js';

const CONTROL_DB = `auditgate_control_cc6_${process.pid}`;
const APPROVER = { subject: 'human:dba', issuer: 'https://auditgate.dev/dev-issuer', kind: 'human' as const, groups: ['dba-oncall'], claims: {} };
const today = new Date().toISOString().slice(0, 10);

let gw: TestGateway;
let work: string;
let dbPath: string;
let packet: string;
let pubKey: string;

async function pendingFor(sql: string): Promise<ApprovalRequest> {
  for (let i = 0; i < 100; i++) {
    const found = (await gw.running.approvals!.list({ status: ['pending'] })).find((r) => r.type === 'statement' && r.sql === sql);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no pending request for ${sql}`);
}

const summaryOf = async (dir: string): Promise<Record<string, number>> => {
  const lines = (await readFile(join(dir, 'figures', 'summary.csv'), 'utf8')).trim().split(/\r?\n/).slice(1);
  return Object.fromEntries(lines.map((l) => { const [k, v] = l.split(','); return [k!, v === '' ? NaN : Number(v)]; }));
};

beforeAll(async () => {
  await serverQuery(`DROP DATABASE IF EXISTS ${CONTROL_DB}`);
  await serverQuery(`CREATE DATABASE ${CONTROL_DB}`);
  gw = await startTestGateway({ config: { approvals: { mode: 'hold', store: { url: `postgres://postgres@${PG.host}:${PG.port}/${CONTROL_DB}` }, admin: { port: 0 } }, recording: { gateway_id: 'gw-cc6' } } });
  work = await mkdtemp(join(tmpdir(), 'auditgate-cc6-'));

  const agent = new pg.Client(gw.pgConfig(await gw.token({ sub: 'agent:cc6', groups: ['agents', 'agent-writers'], claims: { model: 'claude-test', repository: 'acme/shop' } })));
  await agent.connect();
  await agent.query('SELECT name, ssn FROM customers ORDER BY id'); // allowed, ssn masked
  await agent.query('SELECT id, status FROM orders ORDER BY id LIMIT 3'); // allowed
  await expect(agent.query('DELETE FROM orders')).rejects.toThrow(/denied/); // no WHERE: denied
  await expect(agent.query('GRANT ALL ON customers TO PUBLIC')).rejects.toThrow(/denied/); // privilege change: denied
  const ok = `UPDATE public.orders SET status = 'cc6-${randomUUID().slice(0, 8)}' WHERE id = 12`;
  const running = agent.query(ok);
  await gw.running.approvals!.decide((await pendingFor(ok)).id, APPROVER, 'approve', 'checked');
  await running; // approved, then executed
  const no = "UPDATE public.orders SET status = 'cc6-no' WHERE id = 13";
  const refused = agent.query(no).then(() => null, (e: unknown) => e);
  await gw.running.approvals!.decide((await pendingFor(no)).id, APPROVER, 'reject', 'no');
  expect(await refused).toBeInstanceOf(Error);
  await agent.end();
  // An authentication failure: a token from nobody the gateway trusts.
  const bad = new pg.Client(gw.pgConfig('not-a-jwt'));
  await expect(bad.connect()).rejects.toThrow();
  await gw.running.close();

  dbPath = join(work, 'evidence.duckdb');
  const db = await openEvidenceDb(dbPath);
  try {
    expect((await collectSegments({ directory: join(gw.dir, 'segments'), db, publicKey: await loadPublicKey(join(gw.dir, 'keys/segment-signing.pub.pem')) })).ok).toBe(true);
  } finally {
    db.close();
  }
  packet = join(work, 'packet');
  const r = await runCli(['report', 'cc6', '--db', dbPath, '--from', today, '--to', today, '--out', packet, '--org', 'Acme <Shop>', '--signing-key', join(work, 'keys', 'packet.pem'), '--seed', 'fixed-seed']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/CC6 evidence packet written to .*packet/);
  pubKey = join(work, 'keys', 'packet.pub.pem');
}, 120_000);

afterAll(async () => {
  // the gateway itself was closed once its records were written
  await serverQuery(`DROP DATABASE IF EXISTS ${CONTROL_DB} WITH (FORCE)`);
  await directQuery("UPDATE public.orders SET status = 'open' WHERE id BETWEEN 12 AND 13");
  if (work) await rm(work, { recursive: true, force: true });
  if (gw) await rm(gw.dir, { recursive: true, force: true });
});

describe('auditgate report cc6 over a real pipeline', () => {
  it('counts exactly the activity that was driven', async () => {
    const f = await summaryOf(packet);
    expect(f).toMatchObject({
      sessions: 2, sessions_admitted: 1, connections_refused: 1, authentication_failures: 1,
      identities_active: 1, identities_agents: 1, identities_humans: 0,
      // 7 statement records: 2 reads, 2 denials, 2 held (one later released as an approved record, one rejected).
      statements: 7, statements_allowed: 3, statements_denied: 2, statements_held: 2, statements_approved: 1,
      approvals: 2, approvals_granted: 1, approvals_rejected: 1, approvals_executed: 1, approvals_sod_failures: 0,
      statements_unattributed: 0, gateways: 1, bundles_in_force: 1, gateway_builds: 1,
    });
    expect(f.values_masked).toBeGreaterThanOrEqual(2); // every customer's ssn
    expect(f.columns_classified).toBeGreaterThan(0);
    const trail = await readFile(join(packet, 'approval-trail.csv'), 'utf8');
    expect(trail.split('\n').filter((l) => l.includes(',approved,') && l.includes('human:dba'))).toHaveLength(1);
    expect(trail).toContain(',rejected,');
    const denials = await readFile(join(packet, 'denials.csv'), 'utf8');
    expect(denials).toContain('DELETE FROM orders');
    expect(denials).toContain('GRANT ALL ON customers TO PUBLIC');
    expect(denials).toMatch(/,connection,/);
    const attestation = JSON.parse(await readFile(join(packet, 'masking-attestation.json'), 'utf8')) as { masked_by_column_and_identity: { column_ref: string; subject: string; values_masked: number }[] };
    expect(attestation.masked_by_column_and_identity).toContainEqual(expect.objectContaining({ column_ref: 'public.customers.ssn', subject: 'agent:cc6' }));
  });

  it('every figure on index.html is a cell of a query in queries/, and re-running it gives the same value', async () => {
    const checked = await checkFigureReferences(packet, dbPath);
    expect(checked.mismatches).toEqual([]);
    expect(checked.references).toBeGreaterThan(60);
  });

  it('verifies: signature, files, row counts, and every query re-run on the evidence database', async () => {
    const r = await runCli(['verify', packet, '--public-key', pubKey, '--db', dbPath]);
    expect(r.stdout).toMatch(/^OK: /m);
    expect(r.code).toBe(0);
  });

  it('renders in headless Chromium with every section and no console errors (screenshot kept)', async () => {
    const { renderPacketPage } = await import('../../reports/cc6/test-support.js');
    const page = await renderPacketPage(packet, 'test-artifacts/cc6-index.png');
    expect(page.errors).toEqual([]);
    expect(page.requests).toEqual([]);
    for (const h of ['CC6.1', 'CC6.2', 'CC6.3', 'CC6.4', 'CC6.5', 'CC6.6', 'CC6.7', 'CC6.8', 'CC7.2', 'CC8.1', 'Completeness and accuracy', 'Sample for testing']) {
      expect(page.headings.some((x) => x.startsWith(h))).toBe(true);
    }
    expect(page.title).toContain('Acme <Shop>');
    expect(page.svgs).toBeGreaterThanOrEqual(4);
  });

  it('fails verification on a changed byte, a removed file, an added file, and a foreign key', async () => {
    const copy = async (name: string) => { const d = join(work, name); await cp(packet, d, { recursive: true }); return d; };
    const changed = await copy('changed');
    const html = await readFile(join(changed, 'index.html'));
    html[html.length - 10] = html[html.length - 10]! ^ 1;
    await writeFile(join(changed, 'index.html'), html);
    const removed = await copy('removed');
    await unlink(join(removed, 'populations', 'statements.parquet'));
    const added = await copy('added');
    await writeFile(join(added, 'populations', 'extra.csv'), 'a\n1\n');
    const foreign = join(work, 'foreign.pub.pem');
    await writeFile(foreign, publicKeyPem(freshKey().publicKey));
    const expectations: [string, string[], RegExp][] = [
      [changed, ['--public-key', pubKey], /changed_file/],
      [removed, ['--public-key', pubKey], /missing_file/],
      [added, ['--public-key', pubKey], /extra_file/],
      [packet, ['--public-key', foreign], /bad_signature|foreign_key/],
    ];
    for (const [dir, args, finding] of expectations) {
      const r = await runCli(['verify', dir, ...args]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(finding);
    }
  });

  it('--db catches an evidence database that no longer says what the packet says', async () => {
    const altered = join(work, 'altered.duckdb');
    await cp(dbPath, altered);
    const db = await openEvidenceDb(altered);
    // The record and the statement as the views read it (derived from the records when they landed).
    await db.connection.run(`UPDATE records SET decision = 'allow' WHERE kind = 'statement' AND sql = 'DELETE FROM orders'`);
    await db.connection.run(`UPDATE derived_statements SET decision = 'allow' WHERE sql = 'DELETE FROM orders'`);
    db.close();
    const r = await runCli(['verify', packet, '--public-key', pubKey, '--db', altered]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/query_result_changed/);
    expect(r.stdout).toMatch(/denials\.sql/);
  });

  it('writes a clear packet for a period with no activity, and it verifies', async () => {
    const empty = join(work, 'empty');
    const r = await runCli(['report', 'cc6', '--db', dbPath, '--from', '2020-01-01', '--to', '2020-01-31', '--out', empty, '--signing-key', join(work, 'keys', 'packet.pem')]);
    expect(r.code).toBe(0);
    expect(await readFile(join(empty, 'index.html'), 'utf8')).toContain('No recorded activity in this period');
    expect(await summaryOf(empty)).toMatchObject({ sessions: 0, statements: 0, records_landed: 0 });
    const v = await runCli(['verify', empty, '--public-key', pubKey, '--db', dbPath]);
    expect(v.stdout).toMatch(/^OK: /m);
    expect(v.code).toBe(0);
  });

  it('refuses a non-empty packet folder and an unreadable period, clearly', async () => {
    await appendFile(join(work, 'not-empty.txt'), 'x');
    const busy = await runCli(['report', 'cc6', '--db', dbPath, '--from', today, '--to', today, '--out', work]);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toMatch(/is not empty/);
    const bad = await runCli(['report', 'cc6', '--db', dbPath, '--from', '2026-02-30', '--to', today, '--out', join(work, 'x')]);
    expect(bad.stderr).toMatch(/not a calendar day/);
  });
});
