// Approvals through real gateways, a real control database and real PostgreSQL: a production
// write held until a human approves it (hold mode), rejected, expired, refused to its own
// requester, released exactly once and only for the same statement (retry mode), and two
// gateway instances sharing one store: held on one, approved through the other's admin API.
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalRequest } from '../../proxy/approvals/types.js';
import { startGatewayProcess } from '../../bench/support/gateway-process.js';
import { freePort } from '../../bench/support/ports.js';
import { CLI } from '../cli/run-cli.js';
import { FIXTURE_DB, PG, directQuery, serverQuery } from '../support/fixture-db.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';

const CONTROL_DB = `auditgate_control_gw_${process.pid}`;
const CONTROL_URL = `postgres://postgres@${PG.host}:${PG.port}/${CONTROL_DB}`;
const WRITERS = ['agents', 'agent-writers'];
const APPROVER = { subject: 'human:dba', issuer: 'https://auditgate.dev/dev-issuer', kind: 'human' as const, groups: ['dba-oncall'], claims: {} };

const admin = serverQuery;

const approvalsConfig = (mode: 'hold' | 'retry', extra: Record<string, unknown> = {}) => ({
  approvals: { mode, store: { url: CONTROL_URL }, admin: { port: 0 }, ...extra },
});

/** The pending request for this SQL, once the gateway has created it. */
async function pendingFor(gw: TestGateway, sql: string): Promise<ApprovalRequest> {
  for (let i = 0; i < 100; i++) {
    const found = (await gw.running.approvals!.list({ status: ['pending'] })).find((r) => r.type === 'statement' && r.sql === sql);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no pending request for ${sql}`);
}

const status = async (id: number) => (await directQuery('SELECT status FROM public.orders WHERE id = $1', [id])).rows[0]?.status as string;

let hold: TestGateway;
let agent: pg.Client;

beforeAll(async () => {
  await admin(`DROP DATABASE IF EXISTS ${CONTROL_DB}`);
  await admin(`CREATE DATABASE ${CONTROL_DB}`);
  hold = await startTestGateway({ config: { ...approvalsConfig('hold'), recording: { gateway_id: 'gw-hold' } } });
  agent = new pg.Client(hold.pgConfig(await hold.token({ sub: 'agent:held', groups: WRITERS })));
  await agent.connect();
});

afterAll(async () => {
  await agent?.end().catch(() => {});
  await hold?.close();
  await admin(`DROP DATABASE IF EXISTS ${CONTROL_DB} WITH (FORCE)`);
  await directQuery("UPDATE public.orders SET status = 'open' WHERE id BETWEEN 1 AND 20");
});

describe('hold mode', () => {
  it('holds a production write until a human approves it, then runs exactly that statement', async () => {
    const sql = `UPDATE public.orders SET status = 'approved-${randomUUID().slice(0, 8)}' WHERE id = 3`;
    const running = agent.query(sql);
    const request = await pendingFor(hold, sql);
    expect(request).toMatchObject({ status: 'pending', approver_groups: ['dba-oncall'], requester: { subject: 'agent:held' }, upstream_role: 'auditgate_writer' });
    expect(await status(3)).toBe('open'); // nothing ran while held
    await hold.running.approvals!.decide(request.id, APPROVER, 'approve', 'ticket OPS-1 checked');
    const result = await running;
    expect(result.rowCount).toBe(1);
    expect(await status(3)).toMatch(/^approved-/);
    expect((await hold.running.approvals!.get(request.id))!.status).toBe('released');
    expect((await agent.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]); // the session goes on
  });

  it('answers a rejection with the request, who rejected and why; nothing runs', async () => {
    const sql = "UPDATE public.orders SET status = 'rejected' WHERE id = 4";
    const running = agent.query(sql).then(() => null, (e: unknown) => e); // settled early: no unhandled rejection
    const request = await pendingFor(hold, sql);
    await hold.running.approvals!.decide(request.id, APPROVER, 'reject', 'not during the freeze');
    expect(await running).toMatchObject({ code: '42501', message: expect.stringContaining(`approval request ${request.id} was rejected by human:dba: not during the freeze`) });
    expect(await status(4)).toBe('open');
    expect((await agent.query('SELECT 2 AS ok')).rows).toEqual([{ ok: 2 }]);
  });

  it('refuses the requester approving their own request, and an approver outside the groups', async () => {
    const sql = "UPDATE public.orders SET status = 'self' WHERE id = 5";
    const running = agent.query(sql).then(() => null, (e: unknown) => e);
    const request = await pendingFor(hold, sql);
    const self = { ...request.requester };
    await expect(hold.running.approvals!.decide(request.id, self, 'approve', 'me')).rejects.toMatchObject({ code: 'self_approval' });
    await expect(hold.running.approvals!.decide(request.id, { ...APPROVER, subject: 'human:dev', groups: ['developers'] }, 'approve', '')).rejects.toMatchObject({ code: 'not_an_approver' });
    await hold.running.approvals!.decide(request.id, APPROVER, 'reject', 'cleanup');
    expect(await running).toMatchObject({ code: '42501' });
  });

  it('withdraws the request when the client cancels; the session stays usable', async () => {
    const sql = "UPDATE public.orders SET status = 'cancelled' WHERE id = 12";
    const running = agent.query(sql).then(() => null, (e: unknown) => e);
    const request = await pendingFor(hold, sql);
    const { processID, secretKey } = agent as unknown as { processID: number; secretKey: number };
    const cancel = connect(hold.port, '127.0.0.1');
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(80877102, 4);
    packet.writeInt32BE(processID, 8);
    packet.writeInt32BE(secretKey, 12);
    cancel.end(packet);
    expect(await running).toMatchObject({ code: '57014', message: expect.stringContaining(`approval request ${request.id} withdrawn`) });
    expect(await hold.running.approvals!.get(request.id)).toMatchObject({ status: 'withdrawn' });
    expect(await status(12)).toBe('open');
    expect((await agent.query('SELECT 3 AS ok')).rows).toEqual([{ ok: 3 }]);
  });

  it('holds in the extended protocol too (parameters bound), releasing that statement with those values', async () => {
    const sql = 'UPDATE public.orders SET status = $1 WHERE id = $2';
    const running = agent.query(sql, ['extended-ok', 6]);
    const request = await pendingFor(hold, sql);
    expect(request).toMatchObject({ params: ['extended-ok', '6'] });
    await hold.running.approvals!.decide(request.id, APPROVER, 'approve', 'fine');
    expect((await running).rowCount).toBe(1);
    expect(await status(6)).toBe('extended-ok');
  });

  it('refuses to hold a statement whose parameters are bound in binary (the approver could not see them)', async () => {
    const err = await agent.query('UPDATE public.orders SET status = convert_from($1, \'UTF8\') WHERE id = 14', [Buffer.from('binary')]).then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ code: '42501', message: expect.stringMatching(/binds parameters in binary format/) });
    expect(await hold.running.approvals!.list({ status: ['pending'] })).toEqual([]);
    expect(await status(14)).toBe('open');
  });

  it('expires a request nobody decides, and says so', async () => {
    const short = await startTestGateway({ config: approvalsConfig('hold', { max_wait_seconds: 1 }) });
    try {
      const c = new pg.Client(short.pgConfig(await short.token({ sub: 'agent:impatient', groups: WRITERS })));
      await c.connect();
      await expect(c.query("UPDATE public.orders SET status = 'late' WHERE id = 7")).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/expired without a decision/) });
      expect(await status(7)).toBe('open');
      await c.end();
    } finally {
      await short.close();
    }
  });
});

describe('retry mode', () => {
  it('refuses at once naming the request; the same statement retried after approval runs once; another statement is not released', async () => {
    const gw = await startTestGateway({ config: approvalsConfig('retry') });
    try {
      const c = new pg.Client(gw.pgConfig(await gw.token({ sub: 'agent:retry', groups: WRITERS })));
      await c.connect();
      const sql = "UPDATE public.orders SET status = 'retried' WHERE id = 8";
      const first = await c.query(sql).then(() => null, (e: { code: string; message: string }) => e);
      expect(first).toMatchObject({ code: '42501' });
      const id = /request ([0-9a-f-]{36})/.exec(first!.message)![1]!;
      await gw.running.approvals!.decide(id, APPROVER, 'approve', 'ok once');
      // Tampered: a different statement is not what was approved.
      await expect(c.query("UPDATE public.orders SET status = 'tampered' WHERE id = 8")).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/approval required: request/) });
      expect(await status(8)).toBe('open');
      expect((await c.query(sql)).rowCount).toBe(1);
      expect(await status(8)).toBe('retried');
      // Released once: the same statement again needs a new approval.
      await expect(c.query(sql)).rejects.toMatchObject({ message: expect.stringMatching(/approval required: request (?!\s*${id})/) });
      await c.end();
    } finally {
      await gw.close();
    }
  });
});

describe('two gateway processes, one store', () => {
  it('holds on one gateway and releases there when approved through the other gateway process\'s admin API', async () => {
    // The other gateway is `auditgate proxy` in its own process, with its own dev issuer.
    const dir = await mkdtemp(join(tmpdir(), 'auditgate-gw2-'));
    const adminPort = await freePort();
    const other = await startGatewayProcess(dir, { host: PG.host, port: PG.port, database: FIXTURE_DB }, {
      config: { ...approvalsConfig('hold', { admin: { port: adminPort } }), recording: { gateway_id: 'gw-other' } },
    });
    try {
      const sql = "UPDATE public.orders SET status = 'cross-gateway' WHERE id = 9";
      const running = agent.query(sql);
      const request = await pendingFor(hold, sql);
      const { stdout: approverToken } = await promisify(execFile)(
        process.execPath,
        [CLI, 'token', '--sub', 'human:oncall', '--groups', 'dba-oncall', '--kind', 'human'],
        { env: { ...process.env, AUDITGATE_HOME: join(dir, 'home') } },
      );
      const res = await fetch(`http://127.0.0.1:${adminPort}/api/requests/${request.id}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${approverToken.trim()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ comment: 'approved from the other instance' }),
      });
      expect(res.status).toBe(200);
      expect((await running).rowCount).toBe(1);
      expect(await status(9)).toBe('cross-gateway');
      const released = (await hold.running.approvals!.get(request.id))!;
      expect(released).toMatchObject({ status: 'released', released_by_gateway: 'gw-hold' });
      expect(released.decisions).toMatchObject([{ decision: 'approve', approver: { subject: 'human:oncall' }, comment: 'approved from the other instance' }]);
    } finally {
      await other.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the webhook', () => {
  it('is told when a request is created and when it is decided, with a Slack-compatible text', async () => {
    const received: { event: string; text: string; request: { id: string } }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const gw = await startTestGateway({ config: approvalsConfig('hold', { webhook: { url: `http://127.0.0.1:${port}/hook` } }) });
    try {
      const c = new pg.Client(gw.pgConfig(await gw.token({ sub: 'agent:hooked', groups: WRITERS })));
      await c.connect();
      const sql = "UPDATE public.orders SET status = 'hooked' WHERE id = 13";
      const running = c.query(sql).then(() => null, (e: unknown) => e);
      const request = await pendingFor(gw, sql);
      await gw.running.approvals!.decide(request.id, APPROVER, 'reject', 'no hooks today');
      expect(await running).toMatchObject({ code: '42501' });
      await expect.poll(() => received.filter((r) => r.request.id === request.id).map((r) => r.event)).toEqual(expect.arrayContaining(['requested', 'rejected']));
      expect(received.find((r) => r.event === 'requested')!.text).toMatch(/agent:hooked/);
      await c.end();
    } finally {
      await gw.close();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('the approval trail in the evidence', () => {
  it('links each request to its approvers and the single execution it released; no violation', async () => {
    const { openEvidenceDb } = await import('../../collectors/evidence-db.js');
    const { collectSegments } = await import('../../collectors/land-segments.js');
    const { loadPublicKey } = await import('../../proxy/recorder/keys.js');
    const gw = await startTestGateway({ config: { ...approvalsConfig('hold'), recording: { gateway_id: 'gw-trail' } } });
    const work = await mkdtemp(join(tmpdir(), 'auditgate-trail-'));
    try {
      const c = new pg.Client(gw.pgConfig(await gw.token({ sub: 'agent:trail', groups: WRITERS })));
      await c.connect();
      const ok = "UPDATE public.orders SET status = 'trail-ok' WHERE id = 10";
      const running = c.query(ok);
      const r1 = await pendingFor(gw, ok);
      await gw.running.approvals!.decide(r1.id, APPROVER, 'approve', 'looks right');
      await running;
      const no = "UPDATE public.orders SET status = 'trail-no' WHERE id = 11";
      const refused = c.query(no).catch(() => null);
      const r2 = await pendingFor(gw, no);
      await gw.running.approvals!.decide(r2.id, APPROVER, 'reject', 'no');
      await refused;
      await c.end();
      await gw.running.close();
      const db = await openEvidenceDb(join(work, 'e.duckdb'));
      try {
        await collectSegments({ directory: join(gw.dir, 'segments'), db, publicKey: await loadPublicKey(join(gw.dir, 'keys/segment-signing.pub.pem')) });
        const trail = (await db.connection.runAndReadAll(
          `SELECT approval_id, sql, outcome, approved_by, decided_by, executed, "rows", executions, self_approved, too_few_approvers, release_violation FROM approval_trail WHERE approval_id IN ('${r1.id}', '${r2.id}') ORDER BY requested_at`,
        )).getRowObjectsJson();
        expect(trail).toEqual([
          { approval_id: r1.id, sql: ok, outcome: 'approved', approved_by: ['human:dba'], decided_by: 'human:dba', executed: 'yes', rows: '1', executions: '1', self_approved: false, too_few_approvers: false, release_violation: false },
          { approval_id: r2.id, sql: no, outcome: 'rejected', approved_by: null, decided_by: 'human:dba', executed: 'no', rows: null, executions: '0', self_approved: false, too_few_approvers: false, release_violation: false },
        ]);
      } finally {
        db.close();
      }
    } finally {
      await gw.close();
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('session-level access requests', () => {
  it('once approved, new sessions of that identity get the role, until the grant ends (no reconnect needed to lose it)', async () => {
    const requester = { subject: 'agent:needs-write', issuer: 'https://auditgate.dev/dev-issuer', kind: 'agent' as const, groups: ['agents'], claims: {} };
    const service = hold.running.approvals!;
    const token = await hold.token({ sub: requester.subject, groups: requester.groups });
    const before = new pg.Client(hold.pgConfig(token));
    await before.connect();
    await expect(before.query("INSERT INTO scratch.notes (body) VALUES ('grant-before')")).rejects.toMatchObject({ code: '42501' });
    await before.end();

    const request = await service.createAccessRequest({ requester, role: 'auditgate_writer', minutes: 30, reason: 'hotfix OPS-3', approver_groups: ['dba-oncall'], required_approvals: 1, ttl_seconds: 600 });
    await service.decide(request.id, APPROVER, 'approve', 'for the hotfix');
    // The grant ends in two seconds (as if its 30 minutes were up), so the test need not wait.
    const control = new pg.Client({ connectionString: CONTROL_URL });
    await control.connect();
    await control.query("UPDATE auditgate_approval_requests SET granted_until = now() + interval '2 seconds' WHERE id = $1", [request.id]);
    await control.end();

    const granted = new pg.Client(hold.pgConfig(token));
    await granted.connect();
    const tag = `grant-${process.pid}`;
    await granted.query('INSERT INTO scratch.notes (body) VALUES ($1)', [tag]);
    expect((await directQuery('SELECT count(*)::int AS n FROM scratch.notes WHERE body = $1', [tag])).rows[0].n).toBe(1);
    await new Promise((r) => setTimeout(r, 2200));
    await expect(granted.query('SELECT 1')).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(new RegExp(`access grant ${request.id} for role auditgate_writer ended`)) });
    await granted.end();
    await directQuery('DELETE FROM scratch.notes WHERE body = $1', [tag]);
  });
});
