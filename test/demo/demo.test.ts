// `auditgate demo` as a user runs it from a fresh clone: the built CLI, no database of the
// user's own. It must tell the scripted session's story (reads masked, a privilege change and
// a DELETE without WHERE denied, a production DELETE held, approved by a human through the
// admin API and run once, a COPY masked), leave those statements with the right decisions in
// the evidence database, write a CC6 packet that verifies with the demo's packet key, and
// leave nothing running. With --keep-running, the gateway and the approvals page stay up
// until Ctrl-C.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvidenceDb } from '../../collectors/evidence-db.js';
import { loadPublicKey } from '../../proxy/recorder/keys.js';
import { verifyPacket } from '../../reports/packet/verify.js';
import { CLI, runCli, type CliRun } from '../cli/run-cli.js';

let work: string;
let out: string;
let run: CliRun;

/** Every 127.0.0.1 port the narrative names (embedded databases, gateway, approvals page). */
const portsIn = (text: string): number[] => [...new Set([...text.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])))];

/** True when nothing listens on the port any more. */
function closed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

/** The lines of a step's "what the agent got" block. */
function agentSaw(stdout: string, step: number): string {
  const start = stdout.indexOf(`\n${step}. The agent`);
  const next = stdout.indexOf(`\n${step + 1}. The agent`, start + 1);
  const block = stdout.slice(start, next < 0 ? undefined : next);
  const got = block.indexOf('what the agent got:');
  return block.slice(got, block.indexOf('what is stored', got));
}

async function rows(db: string, sql: string): Promise<Record<string, unknown>[]> {
  const e = await openEvidenceDb(db, { readOnly: true });
  try {
    return (await e.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    e.close();
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'auditgate-demo-test-'));
  out = join(work, 'auditgate-demo');
  // An earlier demo's output is replaced (its marker says it may be).
  await mkdir(out);
  await writeFile(join(out, '.auditgate-demo'), '');
  await writeFile(join(out, 'stale-from-last-run.txt'), 'old');
  run = await runCli(['demo', '--out', out], { cwd: work });
}, 180_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('auditgate demo', () => {
  it('tells the session: reads masked, two statements denied, the approved DELETE run once, the COPY masked', () => {
    const s = run.stdout;
    expect(s).toContain('the previous demo output there was replaced');
    expect(existsSync(join(out, 'stale-from-last-run.txt'))).toBe(false);

    // 1-2: reads. Orders are not classified; customers' classified columns come back masked.
    expect(s).toMatch(/1\. The agent looks at the orders by status\n.*\n {3}→ allowed: nothing it reads is classified/);
    expect(s).toMatch(/2\. The agent reads three customers[\s\S]*?→ allowed, masked: email \(pii\), phone \(pii\), ssn \(pii_sensitive\), card_number \(pci\)/);
    const customers = agentSaw(s, 2);
    expect(customers).toContain('***@example.com');
    expect(customers).toContain('*******6789');
    expect(customers).toContain('************1111');
    for (const secret of ['ada.lovelace@example.com', '912-45-6789', '4111111111111111']) expect(customers).not.toContain(secret);

    // 3-4: refused before reaching the database, with the policy's reasons.
    expect(s).toMatch(/GRANT SELECT ON api_keys TO PUBLIC\n {3}→ denied \(SQLSTATE 42501\): GRANT is not allowed: privilege changes go through change management/);
    expect(s).toMatch(/DELETE FROM orders\n {3}→ denied \(SQLSTATE 42501\): DELETE on orders without WHERE is not allowed: it would change every row/);
    expect(s.match(/→ denied/g)).toHaveLength(2);

    // 5: held, approved by a human on call through the admin API, executed once.
    expect(s).toMatch(/DELETE FROM orders WHERE status = 'cancelled'\n {3}→ held: approval request [0-9a-f]{8} for dba-oncall \(the session runs as auditgate_writer\)/);
    expect(s).toMatch(/why: DELETE on production table orders requires approval/);
    expect(s).toMatch(/→ approved by dana\.dba@acme\.test \(human, dba-oncall\) through the admin API/);
    expect(s).toMatch(/→ executed once, as approved: DELETE 3 /);

    // 6: COPY out of a table with secrets: masked like query results.
    expect(s).toMatch(/COPY api_keys .* TO STDOUT WITH \(FORMAT csv, HEADER\)\n {3}→ allowed, masked: secret \(secret\)/);
    const copy = agentSaw(s, 6);
    expect(copy.match(/\*\*\*REDACTED\*\*\*/g)).toHaveLength(4);
    expect(copy).not.toMatch(/sk_live_/);
  });

  it('leaves each statement in the evidence database with its decision, masking and approval', async () => {
    const db = join(out, 'evidence.duckdb');
    const statements = await rows(db, `SELECT sql, decision, executed, "rows" FROM statements WHERE subject = 'agent:claude@acme.test' ORDER BY seq`);
    expect(statements).toEqual([
      { sql: 'SELECT status, count(*) AS orders, sum(total) AS total FROM orders GROUP BY status ORDER BY status', decision: 'allow', executed: 'yes', rows: '4' },
      { sql: 'SELECT id, name, email, phone, ssn, card_number FROM customers WHERE id <= $1 ORDER BY id', decision: 'allow', executed: 'yes', rows: '3' },
      { sql: 'GRANT SELECT ON api_keys TO PUBLIC', decision: 'deny', executed: 'no', rows: null },
      { sql: 'DELETE FROM orders', decision: 'deny', executed: 'no', rows: null },
      { sql: "DELETE FROM orders WHERE status = 'cancelled'", decision: 'approval_required', executed: 'no', rows: null },
      { sql: "DELETE FROM orders WHERE status = 'cancelled'", decision: 'approved', executed: 'yes', rows: '3' },
      { sql: 'COPY api_keys (id, customer_id, label, secret) TO STDOUT WITH (FORMAT csv, HEADER)', decision: 'allow', executed: 'yes', rows: '4' },
    ]);
    const masked = await rows(db, 'SELECT column_ref, method, values_masked FROM masking_events ORDER BY statement_id, column_ref');
    expect(masked).toEqual([
      { column_ref: 'public.customers.card_number', method: 'partial', values_masked: '3' },
      { column_ref: 'public.customers.email', method: 'email', values_masked: '3' },
      { column_ref: 'public.customers.phone', method: 'partial', values_masked: '3' },
      { column_ref: 'public.customers.ssn', method: 'partial', values_masked: '3' },
      { column_ref: 'public.api_keys.secret', method: 'redact', values_masked: '4' },
    ]);
    const [trail] = await rows(db, 'SELECT outcome, approved_by, executions, executed, "rows", self_approved, too_few_approvers, release_violation FROM approval_trail');
    expect(trail).toEqual({ outcome: 'approved', approved_by: ['dana.dba@acme.test'], executions: '1', executed: 'yes', rows: '3', self_approved: false, too_few_approvers: false, release_violation: false });
    const [integrity] = await rows(db, 'SELECT status, gaps, missing_start FROM integrity');
    expect(integrity).toEqual({ status: 'ok', gaps: '0', missing_start: false });
  });

  it('writes a CC6 packet that verifies with the demo\'s packet key, and says where to look', async () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const packet = join(out, 'packet');
    expect(existsSync(join(packet, 'index.html'))).toBe(true);
    const report = await verifyPacket(packet, { publicKey: await loadPublicKey(join(out, 'keys', 'packet-signing.pub.pem')), dbPath: join(out, 'evidence.duckdb') });
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({ ok: true, trust: 'given' });
    expect(run.stdout).toMatch(/✓ packet verified/);
    expect(run.stdout).toMatch(/Where to look\n {2}The evidence packet +.*packet\/index\.html/);
    const session = /npx auditgate replay ([0-9a-f-]{36}) --db/.exec(run.stdout)?.[1];
    expect(session).toBeDefined();
    const replay = await runCli(['replay', session!, '--db', join(out, 'evidence.duckdb')]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain("DELETE FROM orders WHERE status = 'cancelled'");
  });

  it('leaves nothing running: the process ended by itself and every port it opened is closed', async () => {
    expect(run.code).not.toBeNull(); // exited, not killed: no handle (socket, timer, database) kept it alive
    const ports = portsIn(run.stdout.slice(0, run.stdout.indexOf('The agent')));
    expect(ports).toHaveLength(4); // shop database, control database, gateway, approvals page
    for (const port of ports) expect(await closed(port)).toBe(true);
  });

  it('refuses a folder that is neither empty nor an earlier demo output, and touches nothing in it', async () => {
    const mine = join(work, 'my-project');
    await mkdir(mine);
    await writeFile(join(mine, 'notes.txt'), 'keep me');
    const r = await runCli(['demo', '--out', mine], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/my-project is not empty and is not the output of an earlier `auditgate demo`/);
    expect(await readdir(mine)).toEqual(['notes.txt']);
    expect(await readFile(join(mine, 'notes.txt'), 'utf8')).toBe('keep me');
  });
});

describe('auditgate demo --keep-running', () => {
  it('leaves the gateway and the approvals page up with a psql line to try, and stops everything on Ctrl-C', async () => {
    const dir = join(work, 'kept');
    const child = spawn(process.execPath, [CLI, 'demo', '--out', dir, '--keep-running'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const check = setInterval(() => {
          if (stdout.includes('Ctrl-C stops everything')) {
            clearInterval(check);
            resolve();
          }
        }, 100);
        void exited.then(() => {
          clearInterval(check);
          reject(new Error(`the demo ended instead of staying up:\n${stdout}\n${stderr}`));
        });
      });
      const line = /PGPASSWORD=(\S+) psql "host=127\.0\.0\.1 port=(\d+) user=agent dbname=(\w+) sslmode=disable"/.exec(stdout);
      expect(line).not.toBeNull();
      const [, token, port, database] = line!;
      // The printed command works: the agent's token, the gateway, masking as before.
      const client = new pg.Client({ host: '127.0.0.1', port: Number(port), user: 'agent', database, password: token });
      await client.connect();
      const r = await client.query('SELECT email, ssn FROM customers WHERE id = 1');
      expect(r.rows).toEqual([{ email: '***@example.com', ssn: '*******6789' }]);
      // Transactions work too: the gateway's catalog lookups run inside the open one.
      await client.query('BEGIN');
      expect((await client.query('SELECT date_of_birth, name FROM customers WHERE id = 2')).rows).toEqual([{ date_of_birth: null, name: 'Grace Hopper' }]);
      await client.query('COMMIT');
      await client.end();
      const admin = /The approvals page +(http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout)![1]!;
      const page = await fetch(`${admin}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      expect(stdout).toMatch(/npx auditgate token --dir \S+ --sub dana\.dba@acme\.test --kind human --groups dba-oncall/);

      const ports = portsIn(stdout);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stdout).toContain('Stopping: gateway, approvals page, embedded databases.');
      for (const p of ports) expect(await closed(p)).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 180_000);
});
