// Shared by the admin tests (not a test itself): a control database of its own on the local
// PostgreSQL (127.0.0.1:5432, trust auth), dev-issuer tokens, an admin server on a free port.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPKCS8, SignJWT } from 'jose';
import pg from 'pg';
import type { Identity, IdentityKind } from '../../policies/contract.js';
import { createApprovalService } from '../approvals/service.js';
import type { ApprovalService, NewStatementRequest, Requester } from '../approvals/types.js';
import { devIssuerConfig, ensureDevIssuer, issueDevToken, type DevIssuer } from '../identity/dev-issuer.js';
import { IdentityVerifier } from '../identity/verifier.js';
import { createLogger, type Logger } from '../session/logger.js';
import { startAdminServer, type AdminServer, type AdminServerOptions } from './server.js';

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
export const controlUrl = (db: string) => `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ ...PG, database: 'postgres' });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Creates `auditgate_admin_<pid>[_suffix]` (dropped first if a crashed run left it). */
export async function createControlDb(suffix = ''): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `auditgate_admin_${process.pid}${suffix ? `_${suffix}` : ''}`;
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${name}`);
  return { name, url: controlUrl(name), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

export interface TestIssuer {
  dir: string;
  dev: DevIssuer;
  verifier: IdentityVerifier;
  token(sub: string, groups: string[], kind?: IdentityKind, claims?: Record<string, unknown>): Promise<string>;
  /** The identity a token for these values verifies to (for creating requests through the service). */
  identity(sub: string, groups: string[], kind?: IdentityKind, claims?: Record<string, unknown>): Requester;
  /** A token signed with this issuer's key but already expired (beyond the clock tolerance). */
  expiredToken(sub: string): Promise<string>;
  cleanup(): Promise<void>;
}

export async function createTestIssuer(): Promise<TestIssuer> {
  const dir = await mkdtemp(join(tmpdir(), 'auditgate-admin-'));
  const dev = await ensureDevIssuer(join(dir, 'dev-issuer'));
  const verifier = new IdentityVerifier({ issuers: [devIssuerConfig(dev)] });
  const provenance = ['model', 'repository', 'ticket', 'agent', 'session'];
  return {
    dir,
    dev,
    verifier,
    token: (sub, groups, kind = 'human', claims = {}) => issueDevToken(dev.dir, { sub, groups, kind, claims, ttlSeconds: 600 }),
    identity: (sub, groups, kind = 'human', claims = {}) => ({
      subject: sub,
      issuer: dev.issuer,
      kind,
      groups,
      claims: Object.fromEntries(Object.entries(claims).filter(([k]) => provenance.includes(k))),
    }),
    expiredToken: async (sub) => {
      const key = await importPKCS8(await readFile(dev.keyPath, 'utf8'), 'EdDSA');
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ groups: ['dba'], auditgate_kind: 'human' })
        .setProtectedHeader({ alg: 'EdDSA', kid: dev.kid, typ: 'JWT' })
        .setIssuer(dev.issuer)
        .setAudience(dev.audience)
        .setSubject(sub)
        .setIssuedAt(now - 3600)
        .setExpirationTime(now - 600)
        .sign(key);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A logger that keeps every line (to check that no token is ever logged). */
export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(l) }), lines };
}

export async function startService(url: string, gatewayId = 'gw-admin-test', log?: Logger): Promise<ApprovalService> {
  return createApprovalService({ url, gatewayId, sweepIntervalMs: 200, ...(log ? { log } : {}) });
}

export async function startTestAdmin(
  service: ApprovalService,
  issuer: TestIssuer,
  over: Partial<AdminServerOptions> = {},
): Promise<AdminServer> {
  return startAdminServer({
    host: '127.0.0.1',
    port: 0,
    service,
    verifyToken: (t) => issuer.verifier.verify(t) as Promise<Identity>,
    accessPolicy: (role) =>
      role === 'app_admin' || role === 'app_writer'
        ? { approver_groups: ['dba'], required_approvals: 1, ttl_seconds: 600, max_minutes: 240 }
        : null,
    requestableRoles: ['app_admin', 'app_writer'],
    heartbeatMs: 1000,
    ...over,
  });
}

let seq = 0;
export function statementRequest(requester: Requester, over: Partial<NewStatementRequest> = {}): NewStatementRequest {
  seq++;
  return {
    requester,
    gateway_id: 'gw-a',
    session_id: `s-${seq}`,
    database: 'app',
    upstream_role: 'app_rw',
    sql: `DELETE FROM public.orders WHERE id = $1 AND note <> 'orders'`,
    params: [String(seq)],
    facts: {
      kind: 'delete',
      command_tag: 'DELETE',
      tables: [{ schema: 'public', name: 'orders', access: 'write' }],
    },
    reason: 'production writes need a DBA',
    approver_groups: ['dba'],
    required_approvals: 1,
    ttl_seconds: 600,
    ...over,
  };
}

/** JSON API call with an optional bearer token. */
export async function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; contentType?: string | null; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    if (opts.contentType !== null) headers['Content-Type'] = opts.contentType ?? 'application/json';
  }
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, json, text };
}

/**
 * Reads an event stream (GET /api/events) with fetch, as the page does; `next(pred)` resolves
 * with the first `change` message matching pred.
 */
export async function openStream(base: string, token: string) {
  const ctrl = new AbortController();
  const res = await fetch(`${base}/api/events`, { headers: { Authorization: `Bearer ${token}` }, signal: ctrl.signal });
  const messages: { event: string; data: any }[] = [];
  const waiting: { pred: (m: { event: string; data: any }) => boolean; resolve: (m: { event: string; data: any }) => void }[] = [];
  let ended = false;
  const done = (async () => {
    if (!res.body) return;
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { done: end, value } = await reader.read();
        if (end) break;
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data += line.slice(5).trimStart();
          }
          if (!data) continue;
          const m = { event, data: JSON.parse(data) };
          messages.push(m);
          for (const w of [...waiting]) {
            if (w.pred(m)) {
              waiting.splice(waiting.indexOf(w), 1);
              w.resolve(m);
            }
          }
        }
      }
    } catch {
      /* aborted */
    } finally {
      ended = true;
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    messages,
    get ended() {
      return ended;
    },
    done,
    next(pred: (m: { event: string; data: any }) => boolean, timeoutMs = 10_000): Promise<{ event: string; data: any }> {
      const found = messages.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.event))}`)), timeoutMs);
        waiting.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
      });
    },
    close() {
      ctrl.abort();
    },
  };
}
