// The approval service against a real PostgreSQL (127.0.0.1:5432, trust auth): two service
// instances ("gateways" A and B) share one control database created for this file.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS } from './migrations.js';
import { createApprovalService } from './service.js';
import { statementHash } from './statement-hash.js';
import {
  ApprovalRefused,
  type ApprovalEvent,
  type ApprovalService,
  type NewAccessRequest,
  type NewStatementRequest,
  type Requester,
} from './types.js';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const DB = `auditgate_control_${process.pid}`;
const FRESH_DBS = [`${DB}_m1`, `${DB}_m2`];
const urlOf = (db: string): string => `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
const URL = urlOf(DB);

async function sql(database: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ ...PG, database });
  await c.connect();
  try {
    return await c.query(text, params);
  } finally {
    await c.end();
  }
}

const ISSUER = 'https://idp.acme.test';
const person = (subject: string, groups: string[], kind: Requester['kind'] = 'human'): Requester => ({
  subject,
  issuer: ISSUER,
  kind,
  groups,
  claims: {},
});
const agent: Requester = { ...person('agent:claude@acme', ['agents'], 'agent'), claims: { model: 'claude', repository: 'acme/shop' } };
const alice = person('alice', ['dba-oncall']);
const bob = person('bob', ['eng', 'dba-oncall']);
const eve = person('eve', ['eng']);

let n = 0;
function statement(over: Partial<NewStatementRequest> = {}): NewStatementRequest {
  n++;
  return {
    requester: agent,
    gateway_id: 'gw-a',
    session_id: `s-${n}`,
    database: 'app',
    upstream_role: 'auditgate_writer',
    sql: `UPDATE orders SET status = $1 WHERE id = ${n}`,
    params: ['shipped'],
    facts: { kind: 'update', tables: [{ schema: 'public', name: 'orders', access: 'write' }] },
    reason: 'production writes need a DBA',
    approver_groups: ['dba-oncall'],
    required_approvals: 1,
    ttl_seconds: 300,
    ...over,
  };
}
function access(over: Partial<NewAccessRequest> = {}): NewAccessRequest {
  return {
    requester: agent,
    role: 'auditgate_writer',
    minutes: 30,
    reason: 'migration INC-42',
    approver_groups: ['dba-oncall'],
    required_approvals: 1,
    ttl_seconds: 300,
    ...over,
  };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApprovalRefused);
    return (err as ApprovalRefused).code;
  }
  throw new Error('expected an ApprovalRefused');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let a: ApprovalService;
let b: ApprovalService;
const events: { from: 'a' | 'b'; e: ApprovalEvent }[] = [];
const eventsFor = (id: string): string[] => events.filter((x) => x.e.request.id === id).map((x) => `${x.from}:${x.e.event}`);

beforeAll(async () => {
  for (const db of [DB, ...FRESH_DBS]) {
    await sql('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await sql('postgres', `CREATE DATABASE ${db}`);
  }
  // The services must not depend on the server's default isolation level.
  await sql('postgres', `ALTER DATABASE ${FRESH_DBS[0]} SET default_transaction_isolation = 'serializable'`);
  [a, b] = await Promise.all([
    createApprovalService({ url: URL, gatewayId: 'gw-a', sweepIntervalMs: 200 }),
    createApprovalService({ url: URL, gatewayId: 'gw-b', sweepIntervalMs: 200 }),
  ]);
  a.onEvent((e) => events.push({ from: 'a', e }));
  b.onEvent((e) => events.push({ from: 'b', e }));
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  for (const db of [DB, ...FRESH_DBS]) await sql('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
});

describe('migrations', () => {
  it('two services starting at once on an empty database both start; each version is applied once (server default SERIALIZABLE)', async () => {
    const db = FRESH_DBS[0]!;
    const [s1, s2] = await Promise.all([
      createApprovalService({ url: urlOf(db), gatewayId: 'm1' }),
      createApprovalService({ url: urlOf(db), gatewayId: 'm2' }),
    ]);
    try {
      const r = await s1.createAccessRequest(access());
      expect((await s2.get(r.id))?.status).toBe('pending');
    } finally {
      await s1.close();
      await s2.close();
    }
    const { rows } = await sql(db, 'SELECT version FROM auditgate_schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('concurrent migrate() calls apply each version exactly once; running again applies nothing', async () => {
    const db = FRESH_DBS[1]!;
    const clients = await Promise.all(
      [1, 2, 3, 4].map(async () => {
        const c = new pg.Client({ ...PG, database: db });
        await c.connect();
        return c;
      }),
    );
    try {
      const applied = await Promise.all(clients.map((c) => migrate(c)));
      expect(applied.flat().sort()).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await migrate(clients[0]!)).toEqual([]);
      const { rows } = await clients[0]!.query('SELECT count(*)::int AS n FROM auditgate_schema_migrations');
      expect(rows[0].n).toBe(MIGRATIONS.length);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it('a newer schema than this build knows is tolerated with a warning', async () => {
    const c = new pg.Client({ ...PG, database: FRESH_DBS[1]! });
    await c.connect();
    try {
      await c.query(`INSERT INTO auditgate_schema_migrations (version, name) VALUES (9999, 'from the future')`);
      const warnings: string[] = [];
      expect(await migrate(c, { warn: (m) => warnings.push(m) })).toEqual([]);
      expect(warnings).toEqual(['control database schema is newer than this gateway']);
    } finally {
      await c.end();
    }
  });
});

describe('statement requests', () => {
  it('create → approve → approved → released exactly once, bound to the statement hash', async () => {
    const input = statement();
    const r = await a.createStatementRequest(input);
    const hash = statementHash(input.sql, input.params);
    expect(r).toMatchObject({
      type: 'statement',
      status: 'pending',
      statement_hash: hash,
      sql: input.sql,
      params: ['shipped'],
      facts: input.facts,
      requester: agent,
      decisions: [],
      released_at: null,
      released_by_gateway: null,
    });
    expect(Date.parse(r.expires_at) - Date.parse(r.created_at)).toBe(300_000);
    expect(await a.claimRelease(r.id, hash, 'gw-a')).toBe(false); // not approved yet

    const approved = await b.decide(r.id, alice, 'approve', 'looks fine');
    expect(approved.status).toBe('approved');
    expect(approved.decisions).toMatchObject([{ decision: 'approve', approver: alice, comment: 'looks fine' }]);
    expect((await a.findApproved(agent.subject, hash))?.id).toBe(r.id);
    expect(await a.findApproved('someone-else', hash)).toBeNull();

    expect(await a.claimRelease(r.id, statementHash(input.sql, ['cancelled']), 'gw-a')).toBe(false); // another statement
    expect(await a.claimRelease(r.id, hash, 'gw-a')).toBe(true);
    expect(await a.claimRelease(r.id, hash, 'gw-a')).toBe(false);
    expect(await b.claimRelease(r.id, hash, 'gw-b')).toBe(false);

    const released = await b.get(r.id);
    expect(released).toMatchObject({ status: 'released', released_by_gateway: 'gw-a' });
    expect(released?.type === 'statement' && released.released_at).toBeTruthy();
    expect(await a.findApproved(agent.subject, hash)).toBeNull();
    expect(eventsFor(r.id)).toEqual(['a:requested', 'b:approved', 'b:granted', 'a:released']);
  });

  it('NULL and empty parameters survive the round trip', async () => {
    const r1 = await a.createStatementRequest(statement({ params: [null, '', 'x'] }));
    const r2 = await a.createStatementRequest(statement({ params: null }));
    const r3 = await a.createStatementRequest(statement({ params: [] }));
    const got = await Promise.all([r1, r2, r3].map((r) => b.get(r.id)));
    expect(got.map((r) => (r?.type === 'statement' ? r.params : 'x'))).toEqual([[null, '', 'x'], null, []]);
    expect(r1.statement_hash).not.toBe(r2.statement_hash);
  });

  it('a single reject rejects', async () => {
    const r = await a.createStatementRequest(statement({ required_approvals: 2 }));
    const rejected = await b.decide(r.id, bob, 'reject', 'not during the freeze');
    expect(rejected.status).toBe('rejected');
    expect(await refusal(a.decide(r.id, alice, 'approve', ''))).toBe('not_pending');
    expect(await a.claimRelease(r.id, r.statement_hash, 'gw-a')).toBe(false);
    expect(eventsFor(r.id)).toEqual(['a:requested', 'b:rejected']);
  });

  it('the requester cannot approve their own request (same subject and issuer)', async () => {
    const carol = person('carol', ['dba-oncall']);
    const r = await a.createStatementRequest(statement({ requester: carol }));
    expect(await refusal(a.decide(r.id, carol, 'approve', 'trust me'))).toBe('self_approval');
    expect(await refusal(b.decide(r.id, { ...carol, groups: ['agents'] }, 'reject', ''))).toBe('self_approval');
    expect((await a.get(r.id))?.status).toBe('pending');
    // The same subject from another issuer is another identity.
    const other = await b.decide(r.id, { ...carol, issuer: 'https://other-idp.test' }, 'approve', '');
    expect(other.status).toBe('approved');
  });

  it('an approver outside approver_groups is refused', async () => {
    const r = await a.createStatementRequest(statement());
    expect(await refusal(b.decide(r.id, eve, 'approve', ''))).toBe('not_an_approver');
    expect(await refusal(b.decide(r.id, eve, 'reject', ''))).toBe('not_an_approver');
    expect(await refusal(b.decide(r.id, person('nobody', []), 'approve', ''))).toBe('not_an_approver');
    expect((await a.get(r.id))?.decisions).toEqual([]);
  });

  it('one decision per approver', async () => {
    const r = await a.createStatementRequest(statement({ required_approvals: 2 }));
    await a.decide(r.id, alice, 'approve', '');
    expect(await refusal(b.decide(r.id, alice, 'approve', 'again'))).toBe('duplicate_approver');
    expect(await refusal(a.decide(r.id, alice, 'reject', 'changed my mind'))).toBe('duplicate_approver');
    const got = await a.get(r.id);
    expect(got?.status).toBe('pending');
    expect(got?.decisions).toHaveLength(1);
  });

  it('N of M: with 2 required, the first approval keeps it pending, the second approves', async () => {
    const r = await a.createStatementRequest(statement({ required_approvals: 2 }));
    expect((await a.decide(r.id, alice, 'approve', 'one')).status).toBe('pending');
    const done = await b.decide(r.id, bob, 'approve', 'two');
    expect(done.status).toBe('approved');
    expect(done.decisions.map((d) => d.approver.subject)).toEqual(['alice', 'bob']);
    expect(eventsFor(r.id)).toEqual(['a:requested', 'a:approved', 'b:approved', 'b:granted']);
  });

  it('concurrent approvals from two instances: approved once, one granted event', async () => {
    const r = await a.createStatementRequest(statement({ required_approvals: 2 }));
    const carl = person('carl', ['dba-oncall']);
    const attempt = (s: ApprovalService, who: Requester): Promise<string> =>
      s.decide(r.id, who, 'approve', '').then(
        (x) => x.status,
        (e: ApprovalRefused) => e.code,
      );
    const results = await Promise.all([attempt(a, alice), attempt(b, bob), attempt(a, carl)]);
    // Row lock: the decisions run one after another; whoever came third found it approved.
    expect(results.sort()).toEqual(['approved', 'not_pending', 'pending']);
    expect((await a.get(r.id))?.status).toBe('approved');
    expect(eventsFor(r.id).filter((e) => e.endsWith(':granted'))).toHaveLength(1);
  });

  it('concurrent claimRelease from two instances: exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const r = await a.createStatementRequest(statement());
      await b.decide(r.id, alice, 'approve', '');
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).claimRelease(r.id, r.statement_hash, i % 2 ? 'gw-a' : 'gw-b')),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(eventsFor(r.id).filter((e) => e.endsWith(':released'))).toHaveLength(1);
    }
  });

  it('unknown ids', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    expect(await a.get(id)).toBeNull();
    expect(await a.get('not-a-uuid')).toBeNull();
    expect(await refusal(a.decide(id, alice, 'approve', ''))).toBe('not_found');
    expect(await refusal(a.decide("'; DROP TABLE x; --", alice, 'approve', ''))).toBe('not_found');
    expect(await refusal(a.withdraw(id, 'x'))).toBe('not_found');
    expect(await refusal(a.waitForDecision(id))).toBe('not_found');
    expect(await a.claimRelease('nope', 'h', 'gw-a')).toBe(false);
  });

  it('rejects impossible requests', async () => {
    await expect(a.createStatementRequest(statement({ required_approvals: 0 }))).rejects.toThrow(RangeError);
    await expect(a.createStatementRequest(statement({ approver_groups: [] }))).rejects.toThrow(/nobody could approve/);
    await expect(a.createStatementRequest(statement({ ttl_seconds: 0 }))).rejects.toThrow(RangeError);
    await expect(a.createAccessRequest(access({ minutes: 0 }))).rejects.toThrow(RangeError);
  });
});

describe('expiry', () => {
  it('a pending request expires after its TTL; waiting resolves; one expired event across instances', async () => {
    const r = await a.createStatementRequest(statement({ ttl_seconds: 1 }));
    const t0 = Date.now();
    const waited = await a.waitForDecision(r.id);
    expect(waited.status).toBe('expired');
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(await refusal(b.decide(r.id, alice, 'approve', 'too late'))).toBe('not_pending');
    await sleep(500); // both sweeps have run since
    expect(eventsFor(r.id).filter((e) => e.endsWith(':expired'))).toHaveLength(1);
    expect(await a.claimRelease(r.id, r.statement_hash, 'gw-a')).toBe(false);
  });

  it('the check on read expires a due request even before any sweep', async () => {
    // Alone on its own database, with a sweep that never runs during the test.
    const lazy = await createApprovalService({ url: urlOf(FRESH_DBS[0]!), gatewayId: 'lazy', sweepIntervalMs: 3_600_000 });
    const seen: string[] = [];
    lazy.onEvent((e) => seen.push(`${e.event}:${e.request.id}`));
    try {
      const r = await lazy.createAccessRequest(access({ ttl_seconds: 60 }));
      await sql(FRESH_DBS[0]!, `UPDATE auditgate_approval_requests SET expires_at = now() - interval '1 second' WHERE id = $1`, [r.id]);
      expect((await lazy.get(r.id))?.status).toBe('expired');
      expect(seen).toEqual([`requested:${r.id}`, `expired:${r.id}`]);
      expect((await lazy.get(r.id))?.status).toBe('expired');
      expect(seen).toHaveLength(2); // expired once
    } finally {
      await lazy.close();
    }
  });

  it('an approved statement not released within its TTL after approval expires', async () => {
    const r = await a.createStatementRequest(statement({ ttl_seconds: 1 }));
    const approved = await b.decide(r.id, alice, 'approve', '');
    expect(approved.status).toBe('approved');
    // The release window restarts at approval.
    expect(Date.parse(approved.expires_at)).toBeGreaterThanOrEqual(Date.parse(r.expires_at));
    expect((await a.findApproved(agent.subject, r.statement_hash))?.id).toBe(r.id);
    await sleep(1_600);
    expect(await a.findApproved(agent.subject, r.statement_hash)).toBeNull();
    expect(await a.claimRelease(r.id, r.statement_hash, 'gw-a')).toBe(false);
    expect((await b.get(r.id))?.status).toBe('expired');
    expect(eventsFor(r.id).filter((e) => e.endsWith(':expired'))).toHaveLength(1);
  });
});

describe('withdraw', () => {
  it('withdraws a pending request; waiting resolves; later decisions are refused', async () => {
    const r = await a.createStatementRequest(statement());
    const wait = b.waitForDecision(r.id);
    await a.withdraw(r.id, 'client disconnected');
    expect((await wait).status).toBe('withdrawn');
    expect(await refusal(b.decide(r.id, alice, 'approve', ''))).toBe('not_pending');
    await a.withdraw(r.id, 'again'); // settled: a no-op
    expect(eventsFor(r.id)).toEqual(['a:requested', 'a:withdrawn']);
  });

  it('does not undo a decision', async () => {
    const r = await a.createStatementRequest(statement());
    await b.decide(r.id, alice, 'approve', '');
    await a.withdraw(r.id, 'too late');
    expect((await a.get(r.id))?.status).toBe('approved');
  });
});

describe('waitForDecision', () => {
  it('a decision on instance B resolves a wait on instance A within a second', async () => {
    const r = await a.createStatementRequest(statement());
    let settled = false;
    const wait = a.waitForDecision(r.id).finally(() => (settled = true));
    await sleep(300);
    expect(settled).toBe(false);
    const t0 = Date.now();
    await b.decide(r.id, alice, 'approve', '');
    const got = await wait;
    expect(got.status).toBe('approved');
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('resolves at once for a request that is already decided', async () => {
    const r = await a.createStatementRequest(statement());
    await b.decide(r.id, alice, 'reject', 'no');
    expect((await a.waitForDecision(r.id)).status).toBe('rejected');
  });

  it('honours AbortSignal', async () => {
    const r = await a.createStatementRequest(statement());
    const ac = new AbortController();
    const wait = a.waitForDecision(r.id, ac.signal);
    setTimeout(() => ac.abort(new Error('client cancelled')), 100);
    await expect(wait).rejects.toThrow('client cancelled');
    const pre = new AbortController();
    pre.abort();
    await expect(a.waitForDecision(r.id, pre.signal)).rejects.toThrow();
    // Neither wait lingers: a later decision has no one to wake, and nothing breaks.
    await b.decide(r.id, alice, 'approve', '');
  });

  it('survives the listener connection being killed (reconnects and re-reads)', async () => {
    const r = await a.createStatementRequest(statement());
    const wait = a.waitForDecision(r.id);
    const killed = await sql(
      DB,
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
        WHERE datname = $1 AND application_name = 'auditgate-approvals-listen:gw-a'`,
      [DB],
    );
    expect(killed.rows).toHaveLength(1);
    // Decided while A's listener is (probably) still down: the NOTIFY is lost for A.
    await b.decide(r.id, alice, 'approve', '');
    expect((await wait).status).toBe('approved');
    // And A listens again afterwards.
    await expect
      .poll(async () => (await sql(DB, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'auditgate-approvals-listen:gw-a'`)).rows[0].n, { timeout: 5_000 })
      .toBe(1);
    const r2 = await a.createStatementRequest(statement());
    const wait2 = a.waitForDecision(r2.id);
    const t0 = Date.now();
    await b.decide(r2.id, alice, 'approve', '');
    expect((await wait2).status).toBe('approved');
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('close() rejects waits still pending', async () => {
    const s = await createApprovalService({ url: URL, gatewayId: 'closing' });
    const r = await s.createStatementRequest(statement());
    const wait = expect(s.waitForDecision(r.id)).rejects.toThrow(/closed/);
    await s.close();
    await wait;
    await expect(s.waitForDecision(r.id)).rejects.toThrow(/closed/);
  });
});

describe('access requests', () => {
  it('grants appear after approval and disappear after granted_until', async () => {
    const subject = 'agent:grants@acme';
    const requester = { ...agent, subject };
    const r = await a.createAccessRequest(access({ requester, role: 'auditgate_writer', minutes: 15 }));
    expect(r).toMatchObject({ type: 'access', status: 'pending', role: 'auditgate_writer', minutes: 15, granted_until: null });
    expect(await b.activeGrants(subject)).toEqual([]);
    const approved = await b.decide(r.id, alice, 'approve', 'for INC-42');
    expect(approved.status).toBe('approved');
    if (approved.type !== 'access') throw new Error('not an access request');
    const decidedAt = Date.parse(approved.decisions[0]!.at);
    expect(Date.parse(approved.granted_until!) - decidedAt).toBe(15 * 60_000);
    expect(await a.activeGrants(subject)).toEqual([{ role: 'auditgate_writer', until: approved.granted_until, request_id: r.id }]);
    expect(await a.activeGrants('agent:someone-else')).toEqual([]);
    expect(await a.claimRelease(r.id, 'x', 'gw-a')).toBe(false); // access requests are never released
    // Fifteen minutes later (moved in the database rather than waited for):
    await sql(DB, `UPDATE auditgate_approval_requests SET granted_until = now() - interval '1 ms' WHERE id = $1`, [r.id]);
    expect(await a.activeGrants(subject)).toEqual([]);
    expect((await a.get(r.id))?.status).toBe('approved'); // a grant that ran out stays approved
    expect(eventsFor(r.id)).toEqual(['a:requested', 'b:approved', 'b:granted']);
  });

  it('list filters by status and type', async () => {
    const s = await a.createStatementRequest(statement());
    const acc = await a.createAccessRequest(access());
    const pendingAccess = await b.list({ status: ['pending'], type: 'access' });
    expect(pendingAccess.map((r) => r.id)).toContain(acc.id);
    expect(pendingAccess.map((r) => r.id)).not.toContain(s.id);
    expect(pendingAccess.every((r) => r.type === 'access' && r.status === 'pending')).toBe(true);
    const all = await b.list();
    expect(all.map((r) => r.id)).toEqual(expect.arrayContaining([s.id, acc.id]));
    expect(await b.list({ status: ['released'], type: 'access' })).toEqual([]);
  });
});

describe('events', () => {
  it('are emitted only by the instance that made the change', async () => {
    const mine: ApprovalEvent[] = [];
    const theirs: ApprovalEvent[] = [];
    const offA = a.onEvent((e) => mine.push(e));
    const offB = b.onEvent((e) => theirs.push(e));
    const only = (list: ApprovalEvent[], id: string): void => {
      // leftovers of earlier tests may expire meanwhile: look at this request only
      const keep = list.filter((e) => e.request.id === id);
      list.splice(0, list.length, ...keep);
    };
    try {
      const r = await a.createStatementRequest(statement());
      only(mine, r.id);
      only(theirs, r.id);
      expect(mine.map((e) => e.event)).toEqual(['requested']);
      expect(theirs).toEqual([]);
      const wait = a.waitForDecision(r.id); // A hears about B's change (NOTIFY) but does not emit it
      await b.decide(r.id, alice, 'approve', 'ok');
      await wait;
      await sleep(200);
      only(mine, r.id);
      only(theirs, r.id);
      expect(mine.map((e) => e.event)).toEqual(['requested']);
      expect(theirs.map((e) => e.event)).toEqual(['approved', 'granted']);
      const decided = theirs[0]!;
      expect(decided.event === 'approved' && decided.decision).toMatchObject({ decision: 'approve', approver: alice, comment: 'ok' });
      expect(theirs[1]!.request.status).toBe('approved');
    } finally {
      offA();
      offB();
    }
  });

  it('a throwing listener does not break the service or other listeners', async () => {
    const seen: string[] = [];
    const off1 = a.onEvent(() => {
      throw new Error('boom');
    });
    const off2 = a.onEvent((e) => seen.push(`${e.event}:${e.request.id}`));
    try {
      const r = await a.createAccessRequest(access());
      expect(seen).toContain(`requested:${r.id}`);
    } finally {
      off1();
      off2();
    }
  });

  it('every change is announced on the auditgate_approvals channel', async () => {
    const c = new pg.Client({ ...PG, database: DB });
    await c.connect();
    const payloads: string[] = [];
    c.on('notification', (m) => {
      if (m.channel === 'auditgate_approvals' && m.payload) payloads.push(m.payload);
    });
    await c.query('LISTEN auditgate_approvals');
    try {
      const r = await a.createStatementRequest(statement());
      await b.decide(r.id, alice, 'approve', '');
      await a.claimRelease(r.id, r.statement_hash, 'gw-a');
      await expect.poll(() => payloads.filter((p) => p === r.id).length).toBe(3);
    } finally {
      await c.end();
    }
  });
});
