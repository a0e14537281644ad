// The webhook notifier against a real local HTTP server that fails, hangs or refuses on demand.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../session/logger.js';
import type { AccessRequest, ApprovalEvent, StatementRequest } from './types.js';
import { createWebhookNotifier, summaryText, webhookPayload, type WebhookNotifier } from './webhook.js';

type Handler = (attempt: number, body: string, res: ServerResponse) => void;

interface TestServer {
  url: string;
  bodies: string[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const notifiers: WebhookNotifier[] = [];
afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((n) => n.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: Handler): Promise<TestServer> {
  const bodies: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      bodies.push(body);
      handler(bodies.length, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const s: TestServer = {
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(s);
  return s;
}

function recordingLog(): Logger & { lines: { level: string; msg: string; fields: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}): void => {
      lines.push({ level, msg, fields });
    };
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

function notifier(url: string, over: Partial<Parameters<typeof createWebhookNotifier>[0]> = {}) {
  const log = recordingLog();
  const n = createWebhookNotifier({ url, timeoutMs: 1_000, maxAttempts: 4, log, baseDelayMs: 20, maxDelayMs: 200, ...over });
  notifiers.push(n);
  return { n, log };
}

const requester = {
  subject: 'agent:claude@acme',
  issuer: 'https://idp.acme.test',
  kind: 'agent' as const,
  groups: ['agents'],
  claims: { secret_claim: 'do-not-send' },
};

const stmt: StatementRequest = {
  id: '6f1c1f9e-8a52-4d4b-9a55-2d3c1c1f0a01',
  type: 'statement',
  status: 'pending',
  created_at: '2026-01-05T10:00:00.000Z',
  expires_at: '2026-01-05T10:15:00.000Z',
  requester,
  gateway_id: 'gw-a',
  session_id: 's-1',
  database: 'app',
  upstream_role: 'auditgate_writer',
  sql: 'UPDATE customers\n   SET email = $1\n WHERE id < 10 AND name <> \'a&b\'',
  params: ['ada@example.com'],
  statement_hash: 'abc123',
  facts: { kind: 'update', tables: [{ schema: 'public', name: 'customers', access: 'write' }] },
  reason: 'production <writes>',
  approver_groups: ['dba-oncall'],
  required_approvals: 1,
  decisions: [],
  released_at: null,
  released_by_gateway: null,
};

const requested: ApprovalEvent = { event: 'requested', request: stmt };

const until = async (cond: () => boolean, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('webhook notifier', () => {
  it('posts {event, request, text}; retries failed attempts with backoff until one succeeds', async () => {
    const s = await serve((attempt, _body, res) => {
      res.statusCode = attempt <= 2 ? 503 : 200;
      res.end(attempt <= 2 ? 'unavailable' : 'ok');
    });
    const { n, log } = notifier(s.url);
    const t0 = Date.now();
    const ret = n.notify(requested);
    expect(ret).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(50); // fire and forget
    expect(s.bodies).toHaveLength(0);
    await until(() => s.bodies.length === 3);
    await n.close();
    const body = JSON.parse(s.bodies[2]!);
    expect(body.event).toBe('requested');
    expect(body.request).toMatchObject({
      id: stmt.id,
      type: 'statement',
      status: 'pending',
      sql: stmt.sql,
      param_count: 1,
      requester: { subject: requester.subject, issuer: requester.issuer, kind: 'agent' },
      approver_groups: ['dba-oncall'],
    });
    // Bound values, facts and claims stay home.
    expect(s.bodies[2]).not.toContain('ada@example.com');
    expect(s.bodies[2]).not.toContain('do-not-send');
    expect(body.request.facts).toBeUndefined();
    expect(typeof body.text).toBe('string');
    expect(body.text).not.toMatch(/\n/);
    expect(s.bodies.every((b) => b === s.bodies[0])).toBe(true); // the same body every attempt
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(log.lines.find((l) => l.level === 'info')?.fields).toMatchObject({ attempts: 3, id: stmt.id });
  });

  it('gives up after maxAttempts and logs the final failure once', async () => {
    const s = await serve((_a, _b, res) => {
      res.statusCode = 500;
      res.end();
    });
    const { n, log } = notifier(s.url, { maxAttempts: 3 });
    n.notify(requested);
    await until(() => log.lines.some((l) => l.level === 'error'));
    expect(s.bodies).toHaveLength(3);
    const errors = log.lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ msg: 'approvals webhook delivery failed', fields: { attempts: 3, error: 'HTTP 500', id: stmt.id } });
  });

  it('retries an attempt that times out', async () => {
    const s = await serve((attempt, _b, res) => {
      if (attempt === 1) return; // never answers
      res.end('ok');
    });
    const { n, log } = notifier(s.url, { timeoutMs: 200 });
    n.notify(requested);
    await until(() => s.bodies.length === 2);
    await n.close();
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(log.lines.find((l) => l.level === 'debug')?.fields).toMatchObject({ error: 'timed out' });
  });

  it('retries when nothing listens, then logs', async () => {
    const s = await serve((_a, _b, res) => res.end());
    const url = s.url;
    await s.close();
    servers.length = 0;
    const { n, log } = notifier(url, { maxAttempts: 2 });
    n.notify(requested);
    await until(() => log.lines.some((l) => l.level === 'error'));
    expect(log.lines.find((l) => l.level === 'error')?.fields).toMatchObject({ attempts: 2 });
  });

  it('does not retry a client error other than 408/429', async () => {
    const s = await serve((_a, _b, res) => {
      res.statusCode = 404;
      res.end();
    });
    const { n, log } = notifier(s.url);
    n.notify(requested);
    await until(() => log.lines.some((l) => l.level === 'error'));
    expect(s.bodies).toHaveLength(1);
  });

  it('close() waits for deliveries in flight', async () => {
    const s = await serve((_a, _b, res) => {
      setTimeout(() => res.end('ok'), 150);
    });
    const { n } = notifier(s.url);
    n.notify(requested);
    n.notify({ event: 'withdrawn', request: { ...stmt, status: 'withdrawn' } });
    await n.close();
    expect(s.bodies).toHaveLength(2);
  });

  it('close() gives up on deliveries that do not finish in time', async () => {
    const s = await serve(() => {
      /* never answers */
    });
    const { n, log } = notifier(s.url, { timeoutMs: 10_000, closeTimeoutMs: 200 });
    n.notify(requested);
    await until(() => s.bodies.length === 1);
    const t0 = Date.now();
    await n.close();
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(log.lines.some((l) => l.level === 'warn' && /still pending/.test(l.msg))).toBe(true);
    n.notify(requested); // after close: dropped, logged, no throw
    expect(s.bodies).toHaveLength(1);
  });

  it('notify never throws, even for an unserialisable event', () => {
    const { n, log } = notifier('http://127.0.0.1:9/');
    const bad = { ...stmt, decisions: [{ decision: 'approve', approver: requester, comment: 10n as unknown as string, at: 'x' }] };
    expect(() => n.notify({ event: 'requested', request: bad as StatementRequest })).not.toThrow();
    expect(log.lines.some((l) => l.level === 'error')).toBe(true);
  });
});

describe('webhook payload', () => {
  it('one Slack-safe line per event', () => {
    const t = summaryText(requested);
    expect(t).not.toMatch(/[\n<>]/);
    expect(t).toContain('&amp;');
    expect(t).toContain('&lt;writes&gt;');
    expect(t).toContain('`UPDATE customers SET email = $1 WHERE id &lt; 10');
    expect(t).toContain(stmt.id);

    const access: AccessRequest = {
      ...stmt,
      type: 'access',
      role: 'auditgate_writer',
      minutes: 30,
      status: 'approved',
      granted_until: '2026-01-05T10:45:00.000Z',
    } as unknown as AccessRequest;
    expect(summaryText({ event: 'granted', request: access })).toContain('role auditgate_writer for 30 min until 2026-01-05T10:45:00.000Z');

    const decision = { decision: 'reject' as const, approver: { ...requester, subject: 'alice' }, comment: 'not now\nplease', at: 'x' };
    const rejected = webhookPayload({ event: 'rejected', request: { ...stmt, status: 'rejected', decisions: [decision] }, decision });
    expect(rejected.text).toContain('alice rejected agent:claude@acme');
    expect(rejected.text).toContain('not now please');
    expect(rejected.decision).toEqual({ decision: 'reject', approver: { subject: 'alice', issuer: requester.issuer }, comment: 'not now\nplease', at: 'x' });

    const long = summaryText({ event: 'requested', request: { ...stmt, sql: `SELECT ${'x, '.repeat(200)}1` } });
    expect(long.length).toBeLessThan(400);
    expect(long).toContain('…');
    expect(summaryText(requested, 'https://gw.acme.test/approvals/')).toContain(`<https://gw.acme.test/approvals/${stmt.id}|review>`);
  });
});
