// The admin listener against the real approval service (a control database of its own on the
// local PostgreSQL) and real dev-issuer tokens verified by the IdentityVerifier.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalService } from '../approvals/types.js';
import { ensureDevIssuer, issueDevToken } from '../identity/dev-issuer.js';
import {
  call,
  createControlDb,
  createTestIssuer,
  memoryLogger,
  openStream,
  startService,
  startTestAdmin,
  statementRequest,
  type TestIssuer,
} from './admin.fixtures.js';
import { AdminClient } from './client.js';
import { APP_JS } from './page-script.js';
import type { AdminServer } from './server.js';

let db: Awaited<ReturnType<typeof createControlDb>>;
let service: ApprovalService;
let issuer: TestIssuer;
let server: AdminServer;
let base: string;
const logged = memoryLogger();
type Who = 'agent' | 'dbaAgent' | 'alice' | 'bob' | 'carol' | 'eve';
const tokens = {} as Record<Who, string>;

const AGENT_CLAIMS = { model: 'claude-sonnet-4', repository: 'acme/shop', ticket: 'OPS-42' };

beforeAll(async () => {
  db = await createControlDb();
  issuer = await createTestIssuer();
  service = await startService(db.url);
  server = await startTestAdmin(service, issuer, { log: logged.log });
  base = server.url;
  tokens.agent = await issuer.token('agent:claude@acme', ['agents'], 'agent', AGENT_CLAIMS);
  tokens.dbaAgent = await issuer.token('agent:rogue@acme', ['dba'], 'agent');
  tokens.alice = await issuer.token('alice@acme', ['dba']);
  tokens.bob = await issuer.token('bob@acme', ['eng', 'dba']);
  tokens.carol = await issuer.token('carol@acme', ['dba']);
  tokens.eve = await issuer.token('eve@acme', ['eng']);
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await db?.drop();
  await issuer?.cleanup();
});

const agentIdentity = () => issuer.identity('agent:claude@acme', ['agents'], 'agent', AGENT_CLAIMS);

describe('authentication', () => {
  it('refuses API calls without a token, with another scheme, or with the token in the URL', async () => {
    for (const path of ['/api/requests', '/api/me', '/api/events', '/api/requests/00000000-0000-4000-8000-000000000000', '/api/nope']) {
      const r = await call(base, 'GET', path);
      expect(r.status, path).toBe(401);
      expect(r.json.error.code).toBe('unauthorized');
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
    const post = await call(base, 'POST', '/api/access-requests', { body: { role: 'app_admin', minutes: 5, reason: 'x' } });
    expect(post.status).toBe(401);
    const basic = await call(base, 'GET', '/api/requests', { headers: { Authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` } });
    expect(basic.status).toBe(401);
    const inUrl = await call(base, 'GET', `/api/requests?access_token=${tokens.alice}`);
    expect(inUrl.status).toBe(401);
  });

  it('refuses a forged token (another key), an expired one, and garbage; with a JSON error', async () => {
    // Another dev issuer: same iss and aud, a different key.
    const otherDir = await mkdtemp(join(tmpdir(), 'auditgate-admin-forger-'));
    try {
      const forger = await ensureDevIssuer(otherDir);
      expect(forger.issuer).toBe(issuer.dev.issuer);
      const forged = await issueDevToken(otherDir, { sub: 'mallory', groups: ['dba'], kind: 'human' });
      const r1 = await call(base, 'GET', '/api/requests', { token: forged });
      expect(r1.status).toBe(401);
      expect(r1.json.error).toMatchObject({ code: 'invalid_token', message: expect.stringMatching(/^invalid token: /) });
      // Same kid as the real key, signature by the other key.
      const [h, p] = forged.split('.');
      const realHeader = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: issuer.dev.kid, typ: 'JWT' })).toString('base64url');
      const tampered = `${realHeader}.${p}.${forged.split('.')[2]}`;
      expect(h).not.toBe(realHeader);
      const r2 = await call(base, 'GET', '/api/requests', { token: tampered });
      expect([r2.status, r2.json.error.message]).toEqual([401, 'invalid token: signature verification failed']);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
    const expired = await call(base, 'GET', '/api/me', { token: await issuer.expiredToken('alice@acme') });
    expect([expired.status, expired.json.error.message]).toEqual([401, 'invalid token: expired']);
    const garbage = await call(base, 'GET', '/api/me', { token: 'not-a-jwt' });
    expect(garbage.status).toBe(401);
    const events = await call(base, 'GET', '/api/events', { token: 'a.b.c' });
    expect(events.status).toBe(401);
  });

  it('accepts a valid token and says who it is; never logs a token', async () => {
    const r = await call(base, 'GET', '/api/me', { token: tokens.agent });
    expect(r.status).toBe(200);
    expect(r.json.identity).toEqual({ subject: 'agent:claude@acme', issuer: issuer.dev.issuer, groups: ['agents'], kind: 'agent', claims: AGENT_CLAIMS });
    expect(r.json).toMatchObject({ can_approve: false, access_requests: true, requestable_roles: ['app_admin', 'app_writer'], grants: [] });
    const all = logged.lines.join('\n');
    expect(all).toMatch(/token refused/);
    for (const t of Object.values(tokens)) {
      expect(all).not.toContain(t);
      expect(all).not.toContain(t.split('.')[2]!);
    }
  });
});

describe('the page and its headers', () => {
  it('serves the page, script and style with a strict CSP and no cookies', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('set-cookie')).toBeNull();
    const html = await page.text();
    expect(html).toContain('<script src="/app.js" defer></script>');
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]/); // no inline script
    expect(html).not.toMatch(/ on[a-z]+=/); // no inline handlers
    // The token field has no name: a form submit without the script sends nothing.
    expect(html).toMatch(/<input id="token" type="password"(?![^>]*name=)[^>]*>/);
    const js = await fetch(`${base}/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toBe(APP_JS);
    expect((await fetch(`${base}/app.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
  });

  it('API answers carry the same headers and no CORS allowance', async () => {
    const r = await call(base, 'GET', '/api/me', { token: tokens.alice, headers: { Origin: 'https://evil.test' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    const pre = await fetch(`${base}/api/requests`, { method: 'OPTIONS', headers: { Origin: 'https://evil.test', 'Access-Control-Request-Method': 'POST' } });
    expect(pre.status).toBe(401);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('the page script builds the DOM from text only and escapes SQL (never parsed as HTML)', () => {
    expect(APP_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(APP_JS).not.toMatch(/localStorage|document\.cookie/);
    // The highlighter runs in a context without a document (the script's pure part).
    const ctx: Record<string, any> = {};
    runInNewContext(APP_JS, ctx);
    const sql = `SELECT '<script>alert(1)</script>' FROM "Users" u JOIN public.orders o ON o.uid = u.id -- orders\nWHERE note = 'public.orders' AND x IN (SELECT 1 FROM orders)`;
    const tables = ctx.tablesFromFacts([{ tables: [{ schema: null, name: 'Users', access: 'read' }, { schema: 'public', name: 'orders', access: 'read' }] }, { tables: [{ schema: null, name: 'orders', access: 'read' }] }]);
    expect(tables).toHaveLength(3);
    const segs: { text: string; mark: boolean }[] = ctx.highlightSql(sql, tables);
    expect(segs.map((s) => s.text).join('')).toBe(sql); // nothing lost, nothing added
    expect(segs.filter((s) => s.mark).map((s) => s.text)).toEqual(['"Users"', 'public.orders', 'orders']);
    expect(segs.find((s) => s.text.includes('<script>'))!.mark).toBe(false);
    expect(ctx.highlightSql('DO $$ DELETE FROM orders $$', tables).filter((s: { mark: boolean }) => s.mark)).toEqual([]);
    expect(ctx.formatLeft(65_000)).toBe('1m 05s left');
    expect(ctx.formatLeft(-1)).toBe('expired');
  });
});

describe('requests and decisions', () => {
  it('lists pending requests with everything an approver needs, SQL verbatim as JSON', async () => {
    const evil = `DELETE FROM public.orders WHERE note = '<script>alert("x")</script>' AND id = $1`;
    const held = await service.createStatementRequest(statementRequest(agentIdentity(), { sql: evil, params: ['<img src=x onerror=alert(1)>'] }));
    const r = await call(base, 'GET', '/api/requests?status=pending', { token: tokens.alice });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const item = r.json.requests.find((x: { id: string }) => x.id === held.id);
    expect(item).toMatchObject({
      type: 'statement',
      status: 'pending',
      sql: evil,
      params: ['<img src=x onerror=alert(1)>'],
      database: 'app',
      upstream_role: 'app_rw',
      reason: 'production writes need a DBA',
      requester: { subject: 'agent:claude@acme', kind: 'agent', claims: AGENT_CLAIMS },
      facts: { tables: [{ schema: 'public', name: 'orders', access: 'write' }] },
      required_approvals: 1,
      viewer: { can_decide: true, reason: null, is_requester: false },
    });
    expect(Date.parse(r.json.server_time)).toBeGreaterThan(0);
    const one = await call(base, 'GET', `/api/requests/${held.id}`, { token: tokens.alice });
    expect(one.json.request.sql).toBe(evil);
    // the raw text contains the SQL only in JSON-escaped form inside a JSON document
    expect(one.text.startsWith('{')).toBe(true);
  });

  it('shows each identity only its own requests and those it may approve', async () => {
    const held = await service.createStatementRequest(statementRequest(agentIdentity()));
    const ids = async (who: Who) => (await call(base, 'GET', '/api/requests?status=all', { token: tokens[who] })).json.requests.map((x: { id: string }) => x.id);
    expect(await ids('alice')).toContain(held.id);
    expect(await ids('agent')).toContain(held.id); // the requester
    expect(await ids('eve')).not.toContain(held.id); // eng only
    expect((await call(base, 'GET', `/api/requests/${held.id}`, { token: tokens.eve })).status).toBe(404);
    const mine = await call(base, 'GET', `/api/requests/${held.id}`, { token: tokens.agent });
    expect(mine.json.request.viewer).toEqual({ can_decide: false, reason: 'self_approval', is_requester: true });
  });

  it('approves with a comment: 200, the decision recorded, then 409', async () => {
    const held = await service.createStatementRequest(statementRequest(agentIdentity()));
    const r = await call(base, 'POST', `/api/requests/${held.id}/approve`, { token: tokens.alice, body: { comment: 'matches OPS-42' } });
    expect(r.status).toBe(200);
    expect(r.json.request).toMatchObject({ id: held.id, status: 'approved', viewer: { can_decide: false, reason: 'not_pending' } });
    expect(r.json.request.decisions).toEqual([expect.objectContaining({ decision: 'approve', comment: 'matches OPS-42', approver: expect.objectContaining({ subject: 'alice@acme' }) })]);
    expect((await service.get(held.id))!.status).toBe('approved');
    const again = await call(base, 'POST', `/api/requests/${held.id}/reject`, { token: tokens.bob, body: { comment: 'late' } });
    expect([again.status, again.json.error.code]).toEqual([409, 'not_pending']);
  });

  it('needs every required approval; the same approver twice is refused (403)', async () => {
    const held = await service.createStatementRequest(statementRequest(agentIdentity(), { required_approvals: 2 }));
    const first = await call(base, 'POST', `/api/requests/${held.id}/approve`, { token: tokens.alice, body: {} });
    expect([first.status, first.json.request.status]).toEqual([200, 'pending']);
    expect(first.json.request.viewer.reason).toBe('already_decided');
    const dup = await call(base, 'POST', `/api/requests/${held.id}/approve`, { token: tokens.alice, body: { comment: 'again' } });
    expect([dup.status, dup.json.error.code]).toEqual([403, 'duplicate_approver']);
    const second = await call(base, 'POST', `/api/requests/${held.id}/approve`, { token: tokens.carol, body: { comment: 'ok' } });
    expect([second.status, second.json.request.status]).toEqual([200, 'approved']);
  });

  it('rejects with a comment', async () => {
    const held = await service.createStatementRequest(statementRequest(agentIdentity()));
    const r = await call(base, 'POST', `/api/requests/${held.id}/reject`, { token: tokens.bob, body: { comment: 'no WHERE on the ticket' } });
    expect([r.status, r.json.request.status]).toEqual([200, 'rejected']);
    expect((await service.get(held.id))!.decisions[0]).toMatchObject({ decision: 'reject', comment: 'no WHERE on the ticket' });
  });

  it('refuses self-approval, a wrong group and an agent approver (403)', async () => {
    // alice asks for access herself (she is in dba, the approver group) and tries to approve it.
    const own = await call(base, 'POST', '/api/access-requests', { token: tokens.alice, body: { role: 'app_admin', minutes: 30, reason: 'OPS-7 hotfix' } });
    expect(own.status).toBe(201);
    const id = own.json.request.id;
    const self = await call(base, 'POST', `/api/requests/${id}/approve`, { token: tokens.alice, body: { comment: 'me' } });
    expect([self.status, self.json.error.code]).toEqual([403, 'self_approval']);
    const held = await service.createStatementRequest(statementRequest(agentIdentity()));
    const eve = await call(base, 'POST', `/api/requests/${held.id}/approve`, { token: tokens.eve, body: { comment: '' } });
    expect([eve.status, eve.json.error.code]).toEqual([403, 'not_an_approver']);
    const rogue = await call(base, 'POST', `/api/requests/${held.id}/approve`, { token: tokens.dbaAgent, body: { comment: '' } });
    expect([rogue.status, rogue.json.error.code]).toEqual([403, 'approver_kind']);
    expect((await service.get(held.id))!.status).toBe('pending');
    expect((await service.get(id))!.decisions).toEqual([]);
  });

  it('answers 404 for unknown or malformed ids and 405 for the wrong method', async () => {
    const unknown = await call(base, 'GET', '/api/requests/6f1d1a2e-8c1b-4c3e-9a55-0d4b1c2e3f40', { token: tokens.alice });
    expect([unknown.status, unknown.json.error.code]).toEqual([404, 'not_found']);
    const post = await call(base, 'POST', '/api/requests/6f1d1a2e-8c1b-4c3e-9a55-0d4b1c2e3f40/approve', { token: tokens.alice, body: {} });
    expect([post.status, post.json.error.code]).toEqual([404, 'not_found']);
    for (const bad of ['1', "x'%20OR%201=1", '%E0%A4%A', '..%2f..%2fetc']) {
      expect((await call(base, 'GET', `/api/requests/${bad}`, { token: tokens.alice })).status).toBe(404);
    }
    const get = await call(base, 'GET', '/api/requests/6f1d1a2e-8c1b-4c3e-9a55-0d4b1c2e3f40/approve', { token: tokens.alice });
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    expect((await call(base, 'GET', '/api/requests?status=bogus', { token: tokens.alice })).status).toBe(400);
  });
});

describe('CSRF and bad input', () => {
  let id: string;
  beforeAll(async () => {
    id = (await service.createStatementRequest(statementRequest(agentIdentity()))).id;
  });

  it('refuses POSTs that are not application/json (415): what a cross-site form could send', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
      const r = await call(base, 'POST', `/api/requests/${id}/approve`, { token: tokens.alice, body: '{"comment":"csrf"}', contentType: type });
      expect([type, r.status, r.json.error.code]).toEqual([type, 415, 'unsupported_media_type']);
    }
    const none = await call(base, 'POST', `/api/requests/${id}/approve`, { token: tokens.alice, body: '{}', contentType: null });
    expect(none.status).toBe(415);
    expect((await service.get(id))!.status).toBe('pending');
  });

  it('refuses bad JSON, unknown fields, wrong types, control characters and big bodies; keeps serving', async () => {
    const post = (body: unknown) => call(base, 'POST', `/api/requests/${id}/approve`, { token: tokens.alice, body });
    expect((await post('{nope')).json.error.code).toBe('invalid_json');
    expect((await post('[1]')).status).toBe(400);
    expect((await post({ comments: 'typo' })).json.error.code).toBe('invalid_field');
    expect((await post({ comment: 42 })).status).toBe(400);
    expect((await post({ comment: 'a\u001b[2Jb' })).status).toBe(400);
    expect((await post({ comment: 'x'.repeat(2001) })).status).toBe(400);
    const big = await post({ comment: 'x'.repeat(64 * 1024) });
    expect([big.status, big.json.error.code]).toEqual([413, 'body_too_large']);
    // A chunked body without Content-Length, over the limit.
    const chunked = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${base}/api/requests/${id}/approve`);
      const req = httpRequest(u, { method: 'POST', headers: { Authorization: `Bearer ${tokens.alice}`, 'Content-Type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      for (let i = 0; i < 40; i++) req.write('x'.repeat(1024));
      req.end();
    });
    expect(chunked).toBe(413);
    expect((await service.get(id))!.status).toBe('pending');
    expect((await call(base, 'GET', '/api/me', { token: tokens.alice })).status).toBe(200);
  });

  it('survives malformed HTTP', async () => {
    const { connect } = await import('node:net');
    const answer = await new Promise<string>((resolve) => {
      const s = connect(server.address.port, '127.0.0.1', () => s.write('GARBAGE / HTTP/9.9\r\n\r\n'));
      let text = '';
      s.on('data', (d) => (text += d.toString()));
      s.on('close', () => resolve(text));
      s.on('error', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect((await call(base, 'GET', '/api/me', { token: tokens.alice })).status).toBe(200);
  });
});

describe('access requests', () => {
  it('creates one for the token\'s identity; approved, it shows as a grant', async () => {
    const r = await call(base, 'POST', '/api/access-requests', { token: tokens.agent, body: { role: 'app_writer', minutes: 45, reason: 'OPS-42 backfill' } });
    expect(r.status).toBe(201);
    expect(r.json.request).toMatchObject({
      type: 'access',
      status: 'pending',
      role: 'app_writer',
      minutes: 45,
      reason: 'OPS-42 backfill',
      approver_groups: ['dba'],
      required_approvals: 1,
      requester: { subject: 'agent:claude@acme', claims: AGENT_CLAIMS },
    });
    const ok = await call(base, 'POST', `/api/requests/${r.json.request.id}/approve`, { token: tokens.bob, body: { comment: 'for 45 minutes' } });
    expect(ok.json.request.status).toBe('approved');
    const me = await call(base, 'GET', '/api/me', { token: tokens.agent });
    expect(me.json.grants).toEqual([expect.objectContaining({ role: 'app_writer', request_id: r.json.request.id })]);
    expect(await service.activeGrants('agent:claude@acme')).toHaveLength(1);
  });

  it('refuses roles the policy does not offer (403) and bad fields (400)', async () => {
    const post = (body: unknown) => call(base, 'POST', '/api/access-requests', { token: tokens.agent, body });
    const su = await post({ role: 'postgres', minutes: 5, reason: 'why not' });
    expect([su.status, su.json.error.code]).toEqual([403, 'role_not_requestable']);
    expect((await post({ role: 'app_admin', minutes: 241, reason: 'long' })).status).toBe(400);
    expect((await post({ role: 'app_admin', minutes: 1.5, reason: 'x' })).status).toBe(400);
    expect((await post({ role: 'app_admin', minutes: 5, reason: '  ' })).status).toBe(400);
    expect((await post({ role: 'app admin', minutes: 5, reason: 'x' })).status).toBe(400);
    expect((await post({ role: 'app_admin', minutes: 5 })).status).toBe(400);
    expect((await post({ role: 'app_admin', minutes: 5, reason: 'x', approver_groups: ['eng'] })).json.error.code).toBe('invalid_field');
  });

  it('is refused when no access policy is configured', async () => {
    const bare = await startTestAdmin(service, issuer, { accessPolicy: undefined });
    try {
      const r = await call(bare.url, 'POST', '/api/access-requests', { token: tokens.agent, body: { role: 'app_admin', minutes: 5, reason: 'x' } });
      expect([r.status, r.json.error.code]).toEqual([403, 'role_not_requestable']);
    } finally {
      await bare.close();
    }
  });
});

describe('live updates', () => {
  it('streams a change for a new request and for its decision, to those who may see it', async () => {
    const alice = await openStream(base, tokens.alice);
    const eve = await openStream(base, tokens.eve);
    try {
      expect(alice.status).toBe(200);
      expect(alice.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      await alice.next((m) => m.event === 'hello');
      const held = await service.createStatementRequest(statementRequest(agentIdentity()));
      const created = await alice.next((m) => m.event === 'change' && m.data.request.id === held.id);
      expect(created.data).toMatchObject({ event: 'requested', request: { status: 'pending', viewer: { can_decide: true } } });
      await call(base, 'POST', `/api/requests/${held.id}/approve`, { token: tokens.bob, body: { comment: 'stream' } });
      const decided = await alice.next((m) => m.event === 'change' && m.data.request.id === held.id && m.data.request.status === 'approved');
      expect(decided.data.request.decisions[0].comment).toBe('stream');
      await new Promise((r) => setTimeout(r, 200));
      expect(eve.messages.filter((m) => m.event === 'change' && m.data.request.id === held.id)).toEqual([]);
    } finally {
      alice.close();
      eve.close();
    }
  });

  it('with the control database URL, follows changes made by another gateway instance', async () => {
    const other = await startService(db.url, 'gw-b');
    const listening = await startTestAdmin(service, issuer, { controlDatabaseUrl: db.url, gatewayId: 'gw-admin' });
    const s = await openStream(listening.url, tokens.alice);
    try {
      await s.next((m) => m.event === 'hello');
      const held = await other.createStatementRequest(statementRequest(agentIdentity(), { gateway_id: 'gw-b' }));
      const m = await s.next((x) => x.event === 'change' && x.data.request.id === held.id);
      expect(m.data).toMatchObject({ event: 'changed', request: { status: 'pending', gateway_id: 'gw-b' } });
      await other.decide(held.id, issuer.identity('carol@acme', ['dba']), 'reject', 'from B');
      await s.next((x) => x.event === 'change' && x.data.request.id === held.id && x.data.request.status === 'rejected');
    } finally {
      s.close();
      await listening.close();
      await other.close();
    }
  });

  it('ends the stream when the token expires', async () => {
    const short = await issueDevToken(issuer.dev.dir, { sub: 'alice@acme', groups: ['dba'], kind: 'human', ttlSeconds: 2 });
    const s = await openStream(base, short);
    expect(s.status).toBe(200);
    const m = await s.next((x) => x.event === 'reauth', 8_000);
    expect(m.data.message).toMatch(/expired/);
    await s.done;
    expect(s.ended).toBe(true);
  });
});

describe('TLS', () => {
  it('serves https with the given certificate; the client trusts it with --ca', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'auditgate-admin-tls-'));
    try {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ], { stdio: 'ignore' });
      const cert = await readFile(join(dir, 'cert.pem'));
      const tls = await startTestAdmin(service, issuer, { tls: { cert, key: await readFile(join(dir, 'key.pem')) } });
      try {
        expect(tls.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
        const me = await new AdminClient({ url: tls.url, token: tokens.alice, ca: cert }).me();
        expect(me.identity.subject).toBe('alice@acme');
        await expect(new AdminClient({ url: tls.url, token: tokens.alice }).me()).rejects.toThrow(/certificate is not trusted|self-signed|certificate/);
        await expect(new AdminClient({ url: tls.url.replace('https', 'http'), token: tokens.alice }).me()).rejects.toThrow(/cannot reach the admin API/);
      } finally {
        await tls.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
