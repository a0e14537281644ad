// The admin HTTP listener: the approvers' page (GET /) and the JSON API under /api/ that the
// page and `auditgate approvals|access` use. node:http / node:https only.
//
// Security model (docs/approvals.md#security):
// - Every /api/ call carries `Authorization: Bearer <jwt>`, verified by `verifyToken` (the
//   gateway's IdentityVerifier). No cookies are ever set or read, so a cross-site page cannot
//   make the browser send credentials (CSRF); POSTs must also be `application/json`, which a
//   cross-site form cannot send without a CORS preflight, and no CORS headers are ever sent.
// - The token is never put in a URL, never logged, never echoed.
// - The live update stream (GET /api/events) is authenticated like every other call: the page
//   reads it with fetch() streaming, which can send the Authorization header (EventSource
//   cannot). It ends when the token expires.
// - The page's script and style are separate files: the CSP forbids inline script.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { decodeJwt } from 'jose';
import type { Identity, IdentityKind } from '../../policies/contract.js';
import { silentLogger, type Logger } from '../session/logger.js';
import { NotificationListener } from '../approvals/listener.js';
import { NOTIFY_CHANNEL } from '../approvals/migrations.js';
import { ApprovalRefused, type ApprovalEvent, type ApprovalRequest, type ApprovalService, type Requester, type RequestStatus } from '../approvals/types.js';
import { CONTROL_CHARS, HttpError, isJsonContentType, onlyFields, readJsonObject, securityHeaders, sendError, sendJson } from './http-util.js';
import { APP_CSS, APP_JS, INDEX_HTML } from './page.js';

/** What an approved access request needs, per role; null: the role cannot be requested. */
export interface AccessPolicyRule {
  approver_groups: string[];
  required_approvals: number;
  /** How long approvers have to decide. */
  ttl_seconds: number;
  /** Longest grant that may be asked for. Default 1440 (a day). */
  max_minutes?: number;
}

export type AccessPolicy = (role: string, requester: Identity) => AccessPolicyRule | null;

export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** PEM certificate chain and key: serve HTTPS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  service: ApprovalService;
  /**
   * The control database's URL (the service's `url`). Given: the event stream follows every
   * change from every gateway instance (LISTEN on the approvals channel, then a read of the
   * changed request). Absent: only changes this process's service makes (its onEvent), which
   * is enough when one gateway process serves both the agents and this listener.
   */
  controlDatabaseUrl?: string;
  /** Names this listener's LISTEN connection (application_name). */
  gatewayId?: string;
  /** The gateway's token verification (IdentityVerifier.verify); rejects with AuthError. */
  verifyToken: (token: string) => Promise<Identity>;
  /** Session-level access requests: which roles, who approves. Absent: access requests are refused (403). */
  accessPolicy?: AccessPolicy;
  /** Shown in the page's role field as suggestions (the policy still decides). */
  requestableRoles?: string[];
  /** Identity kinds that may approve or reject. Default ['human']: an agent's token cannot approve. */
  approverKinds?: IdentityKind[];
  /** Members of these groups see every request (auditors); others see their own and those they may approve. */
  viewAllGroups?: string[];
  log?: Logger;
  /** Largest accepted request body. Default 16 KiB. */
  maxBodyBytes?: number;
  /** Most event streams open at once. Default 200. */
  maxStreams?: number;
  /** Comment sent on the event stream this often to keep proxies from closing it. Default 15000. */
  heartbeatMs?: number;
}

export interface AdminServer {
  address: { host: string; port: number };
  /** e.g. http://127.0.0.1:6480 */
  url: string;
  close(): Promise<void>;
}

/** Why the signed-in identity may not decide a request (null: it may). */
export type ViewerBlock = 'self_approval' | 'not_an_approver' | 'already_decided' | 'not_pending' | 'approver_kind' | 'expired';

export interface ViewerInfo {
  can_decide: boolean;
  reason: ViewerBlock | null;
  is_requester: boolean;
}

/** A request as the API returns it: the stored request plus what the caller may do with it. */
export type RequestView = ApprovalRequest & { viewer: ViewerInfo };

export const MAX_COMMENT_CHARS = 2000;
export const MAX_REASON_CHARS = 1000;
export const DEFAULT_MAX_MINUTES = 1440;
const STATUSES: readonly RequestStatus[] = ['pending', 'approved', 'released', 'rejected', 'expired', 'withdrawn'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ROLE = /^[^\s\u0000-\u001f\u007f]{1,63}$/;
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Caller {
  identity: Identity;
  /** Token expiry (ms since epoch), when the token has `exp`. */
  expiresAt: number | null;
}

interface Stream {
  caller: Caller;
  res: ServerResponse;
  timers: NodeJS.Timeout[];
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const log = opts.log ?? silentLogger;
  const tls = Boolean(opts.tls);
  const headers = securityHeaders(tls);
  const maxBody = opts.maxBodyBytes ?? 16 * 1024;
  const maxStreams = opts.maxStreams ?? 200;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const approverKinds = opts.approverKinds ?? ['human'];
  const viewAll = new Set(opts.viewAllGroups ?? []);
  const streams = new Set<Stream>();
  const sockets = new Set<Socket>();

  // The same rule as the service's self-approval check: subject and issuer.
  const isRequester = (r: ApprovalRequest, id: Identity) => r.requester.subject === id.subject && r.requester.issuer === id.issuer;
  const visible = (r: ApprovalRequest, id: Identity): boolean =>
    isRequester(r, id) ||
    id.groups.some((g) => viewAll.has(g) || r.approver_groups.includes(g)) ||
    r.decisions.some((d) => d.approver.subject === id.subject);

  const viewerInfo = (r: ApprovalRequest, id: Identity): ViewerInfo => {
    const self = isRequester(r, id);
    let reason: ViewerBlock | null = null;
    if (r.status !== 'pending') reason = 'not_pending';
    else if (Date.parse(r.expires_at) <= Date.now()) reason = 'expired';
    else if (self) reason = 'self_approval';
    else if (!approverKinds.includes(id.kind)) reason = 'approver_kind';
    else if (!id.groups.some((g) => r.approver_groups.includes(g))) reason = 'not_an_approver';
    else if (r.decisions.some((d) => d.approver.subject === id.subject)) reason = 'already_decided';
    return { can_decide: reason === null, reason, is_requester: self };
  };
  const view = (r: ApprovalRequest, id: Identity): RequestView => ({ ...r, viewer: viewerInfo(r, id) });

  // Live updates, fanned out to the open streams, each filtered to what its caller may see.
  const broadcast = (event: string, request: ApprovalRequest) => {
    const server_time = new Date().toISOString();
    for (const s of streams) {
      if (visible(request, s.caller.identity)) writeEvent(s, 'change', { event, request: view(request, s.caller.identity), server_time });
    }
  };
  let unsubscribe = () => {};
  let notifications: NotificationListener | null = null;
  if (opts.controlDatabaseUrl) {
    // Every instance's change, by NOTIFY (the payload is the request id): coalesced, then read.
    const due = new Set<string>();
    let flushing = false;
    const flush = async () => {
      if (flushing) return;
      flushing = true;
      try {
        while (due.size > 0) {
          const id = due.values().next().value as string;
          due.delete(id);
          try {
            const r = await opts.service.get(id);
            if (r) broadcast('changed', r);
          } catch (err) {
            log.warn('admin: reading a changed request failed', { id, error: (err as Error).message });
          }
        }
      } finally {
        flushing = false;
      }
    };
    notifications = new NotificationListener({
      url: opts.controlDatabaseUrl,
      channel: NOTIFY_CHANNEL,
      applicationName: `auditgate-admin-listen:${opts.gatewayId ?? 'admin'}`.slice(0, 63),
      log,
      onNotify: (id) => {
        if (!UUID.test(id) || streams.size === 0) return;
        due.add(id);
        void flush();
      },
      // Notifications sent while the listener was away are lost: tell the pages to reload.
      onReconnect: () => {
        for (const s of streams) writeEvent(s, 'resync', { server_time: new Date().toISOString() });
      },
    });
    await notifications.start();
  } else {
    unsubscribe = opts.service.onEvent((e: ApprovalEvent) => broadcast(e.event, e.request));
  }

  function writeEvent(s: Stream, event: string, data: unknown): void {
    if (s.res.writableEnded || s.res.destroyed) return;
    // JSON.stringify never emits a raw newline, so one data: line carries the message.
    s.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  function endStream(s: Stream, event?: { name: string; data: unknown }): void {
    for (const t of s.timers) clearTimeout(t);
    streams.delete(s);
    if (event) writeEvent(s, event.name, event.data);
    if (!s.res.writableEnded) s.res.end();
  }

  async function authenticate(req: IncomingMessage): Promise<Caller> {
    const header = req.headers.authorization;
    if (header === undefined || header.trim() === '') {
      throw new HttpError(401, 'unauthorized', 'an Authorization: Bearer <token> header is required', {
        'WWW-Authenticate': 'Bearer realm="auditgate-admin"',
      });
    }
    const m = /^Bearer +([^\s]+) *$/i.exec(header);
    if (!m) {
      throw new HttpError(401, 'unauthorized', 'the Authorization header must be "Bearer <token>"', {
        'WWW-Authenticate': 'Bearer realm="auditgate-admin", error="invalid_request"',
      });
    }
    const token = m[1]!;
    let identity: Identity;
    try {
      identity = await opts.verifyToken(token);
    } catch (err) {
      const e = err as { clientMessage?: unknown; reason?: unknown; detail?: unknown; message?: unknown };
      const message = typeof e.clientMessage === 'string' ? e.clientMessage : 'invalid token';
      log.info('admin: token refused', {
        reason: typeof e.reason === 'string' ? e.reason : 'error',
        detail: typeof e.detail === 'string' ? e.detail : String(e.message ?? err),
        remote: req.socket.remoteAddress,
      });
      throw new HttpError(401, 'invalid_token', message, {
        'WWW-Authenticate': 'Bearer realm="auditgate-admin", error="invalid_token"',
      });
    }
    let expiresAt: number | null = null;
    try {
      const exp = decodeJwt(token).exp; // already verified above
      if (typeof exp === 'number') expiresAt = exp * 1000;
    } catch {
      /* a verifier that accepts non-JWT tokens (tests): no expiry known */
    }
    return { identity, expiresAt };
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, path: string, url: URL): Promise<void> {
    const caller = await authenticate(req);
    const id = caller.identity;
    const method = req.method ?? 'GET';
    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) throw new HttpError(405, 'method_not_allowed', `use ${methods.join(' or ')}`, { Allow: methods.join(', ') });
    };
    const jsonBody = async (fields: readonly string[]) => {
      if (!isJsonContentType(req.headers['content-type'])) {
        throw new HttpError(415, 'unsupported_media_type', 'POST bodies must be sent with Content-Type: application/json');
      }
      const body = await readJsonObject(req, maxBody);
      onlyFields(body, fields);
      return body;
    };

    if (path === '/api/me') {
      allow('GET');
      const grants = await opts.service.activeGrants(id.subject);
      sendJson(res, 200, {
        identity: id,
        grants,
        can_approve: approverKinds.includes(id.kind),
        access_requests: Boolean(opts.accessPolicy),
        requestable_roles: opts.requestableRoles ?? [],
        server_time: new Date().toISOString(),
      }, headers);
      return;
    }

    if (path === '/api/requests') {
      allow('GET');
      const filter = listFilter(url);
      const all = await opts.service.list({
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.type ? { type: filter.type } : {}),
      });
      const mine = all.filter((r) => visible(r, id));
      const onlyPending = filter.status?.length === 1 && filter.status[0] === 'pending';
      mine.sort(onlyPending ? (a, b) => a.expires_at.localeCompare(b.expires_at) : (a, b) => b.created_at.localeCompare(a.created_at));
      sendJson(res, 200, { requests: mine.slice(0, filter.limit).map((r) => view(r, id)), server_time: new Date().toISOString() }, headers);
      return;
    }

    const one = /^\/api\/requests\/([^/]+)(?:\/(approve|reject))?$/.exec(path);
    if (one) {
      const requestId = one[1]!;
      const action = one[2] as 'approve' | 'reject' | undefined;
      if (!UUID.test(requestId)) throw new HttpError(404, 'not_found', 'no such request');
      if (action === undefined) {
        allow('GET');
        const r = await opts.service.get(requestId.toLowerCase());
        if (!r || !visible(r, id)) throw new HttpError(404, 'not_found', 'no such request');
        sendJson(res, 200, { request: view(r, id), server_time: new Date().toISOString() }, headers);
        return;
      }
      allow('POST');
      const body = await jsonBody(['comment']);
      const comment = body.comment === undefined || body.comment === null ? '' : body.comment;
      if (typeof comment !== 'string') throw new HttpError(400, 'invalid_field', 'comment must be a string');
      if (comment.length > MAX_COMMENT_CHARS) throw new HttpError(400, 'invalid_field', `comment is longer than ${MAX_COMMENT_CHARS} characters`);
      if (CONTROL_CHARS.test(comment)) throw new HttpError(400, 'invalid_field', 'comment contains control characters');
      if (!approverKinds.includes(id.kind)) {
        throw new HttpError(403, 'approver_kind', `identities of kind ${id.kind} cannot approve or reject (allowed: ${approverKinds.join(', ')})`);
      }
      const decided = await opts.service.decide(requestId.toLowerCase(), toRequester(id), action, comment.trim());
      log.info('admin: decision', { id: decided.id, type: decided.type, decision: action, approver: id.subject, status: decided.status });
      sendJson(res, 200, { request: view(decided, id), server_time: new Date().toISOString() }, headers);
      return;
    }

    if (path === '/api/access-requests') {
      allow('POST');
      const body = await jsonBody(['role', 'minutes', 'reason']);
      const { role, minutes, reason } = body;
      if (typeof role !== 'string' || !ROLE.test(role)) throw new HttpError(400, 'invalid_field', 'role must be a role name (1-63 characters, no spaces)');
      if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < 1) {
        throw new HttpError(400, 'invalid_field', 'minutes must be a whole number of minutes, at least 1');
      }
      if (typeof reason !== 'string' || reason.trim() === '') throw new HttpError(400, 'invalid_field', 'reason is required: say why you need the role');
      if (reason.length > MAX_REASON_CHARS) throw new HttpError(400, 'invalid_field', `reason is longer than ${MAX_REASON_CHARS} characters`);
      if (CONTROL_CHARS.test(reason)) throw new HttpError(400, 'invalid_field', 'reason contains control characters');
      const rule = opts.accessPolicy ? opts.accessPolicy(role, id) : null;
      if (!rule) throw new HttpError(403, 'role_not_requestable', `role ${role} cannot be requested`);
      const max = rule.max_minutes ?? DEFAULT_MAX_MINUTES;
      if (minutes > max) throw new HttpError(400, 'invalid_field', `minutes must be at most ${max} for role ${role}`);
      const created = await opts.service.createAccessRequest({
        requester: toRequester(id),
        role,
        minutes,
        reason: reason.trim(),
        approver_groups: [...rule.approver_groups],
        required_approvals: rule.required_approvals,
        ttl_seconds: rule.ttl_seconds,
      });
      log.info('admin: access requested', { id: created.id, role, minutes, requester: id.subject });
      sendJson(res, 201, { request: view(created, id), server_time: new Date().toISOString() }, headers);
      return;
    }

    if (path === '/api/events') {
      allow('GET');
      if (streams.size >= maxStreams) throw new HttpError(503, 'too_many_streams', 'too many open event streams; try again later', { 'Retry-After': '10' });
      res.writeHead(200, {
        ...headers,
        'Content-Type': 'text/event-stream; charset=utf-8',
        'X-Accel-Buffering': 'no',
      });
      res.socket?.setNoDelay(true);
      const s: Stream = { caller, res, timers: [] };
      streams.add(s);
      res.write(`retry: 3000\n\n`);
      writeEvent(s, 'hello', { subject: id.subject, server_time: new Date().toISOString() });
      const beat = setInterval(() => {
        if (!res.writableEnded) res.write(`: keep-alive\n\n`);
      }, heartbeatMs);
      beat.unref();
      s.timers.push(beat);
      if (caller.expiresAt !== null) {
        const t = setTimeout(
          () => endStream(s, { name: 'reauth', data: { message: 'the token expired: sign in again' } }),
          Math.min(MAX_TIMER_MS, Math.max(0, caller.expiresAt - Date.now())),
        );
        t.unref();
        s.timers.push(t);
      }
      // res 'close': the client went away (req 'close' fires as soon as the request is read).
      res.once('close', () => endStream(s));
      return;
    }

    throw new HttpError(404, 'not_found', `no API route ${path}`);
  }

  function handleStatic(req: IncomingMessage, res: ServerResponse, path: string): void {
    const method = req.method ?? 'GET';
    const file =
      path === '/' || path === '/index.html'
        ? { body: INDEX_HTML, type: 'text/html; charset=utf-8' }
        : path === '/app.js'
          ? { body: APP_JS, type: 'text/javascript; charset=utf-8' }
          : path === '/app.css'
            ? { body: APP_CSS, type: 'text/css; charset=utf-8' }
            : null;
    if (!file && path === '/favicon.ico') {
      res.writeHead(204, headers);
      res.end();
      return;
    }
    if (!file) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('not found\n');
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': file.type, 'Content-Length': String(Buffer.byteLength(file.body)) });
    res.end(method === 'HEAD' ? undefined : file.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin.invalid');
    } catch {
      throw new HttpError(400, 'bad_request', 'malformed request target');
    }
    const path = url.pathname;
    if (path === '/api' || path.startsWith('/api/')) await handleApi(req, res, path, url);
    else handleStatic(req, res, path);
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    handle(req, res).catch((err: unknown) => {
      const httpErr = toHttpError(err, log, req);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, new HttpError(httpErr.status, httpErr.code, httpErr.message, { ...headers, ...httpErr.headers }));
    });
  };

  const server: Server = opts.tls
    ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, onRequest)
    : createHttpServer(onRequest);
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  server.maxHeadersCount = 100;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.on('tlsClientError', (err: Error) => log.debug('admin: TLS handshake failed', { error: err.message }));

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    unsubscribe();
    await notifications?.close();
    throw err;
  }
  server.on('error', (err) => log.error('admin listener error', { error: err.message }));
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${tls ? 'https' : 'http'}://${host}:${addr.port}`;
  log.info('admin listening', { url, tls });

  let closing: Promise<void> | null = null;
  return {
    address: { host: addr.address, port: addr.port },
    url,
    close: () =>
      (closing ??= (async () => {
        unsubscribe();
        await notifications?.close();
        for (const s of [...streams]) endStream(s);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          setTimeout(() => {
            for (const s of sockets) s.destroy();
          }, 1000).unref();
        });
      })()),
  };
}

function listFilter(url: URL): { status?: RequestStatus[]; type?: ApprovalRequest['type']; limit: number } {
  const status = url.searchParams.get('status') ?? 'pending';
  const type = url.searchParams.get('type');
  const limitText = url.searchParams.get('limit');
  let statuses: RequestStatus[] | undefined;
  if (status !== 'all') {
    const parts = status.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    const bad = parts.filter((s) => !(STATUSES as readonly string[]).includes(s));
    if (parts.length === 0 || bad.length > 0) {
      throw new HttpError(400, 'invalid_query', `status must be "all" or a comma-separated list of ${STATUSES.join(', ')}`);
    }
    statuses = parts as RequestStatus[];
  }
  if (type !== null && type !== 'statement' && type !== 'access') throw new HttpError(400, 'invalid_query', 'type must be statement or access');
  const limit = limitText === null ? 200 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, 'invalid_query', 'limit must be a whole number from 1 to 1000');
  return { ...(statuses ? { status: statuses } : {}), ...(type ? { type } : {}), limit };
}

function toRequester(id: Identity): Requester {
  return { subject: id.subject, issuer: id.issuer, kind: id.kind, groups: [...id.groups], claims: { ...id.claims } };
}

const REFUSAL_STATUS: Record<ApprovalRefused['code'], number> = {
  self_approval: 403,
  not_an_approver: 403,
  duplicate_approver: 403,
  not_found: 404,
  not_pending: 409,
  already_decided: 409,
};

function toHttpError(err: unknown, log: Logger, req: IncomingMessage): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ApprovalRefused || (err instanceof Error && err.name === 'ApprovalRefused' && 'code' in err)) {
    const code = (err as ApprovalRefused).code;
    return new HttpError(REFUSAL_STATUS[code] ?? 409, code, err.message);
  }
  log.error('admin: request failed', { method: req.method, path: (req.url ?? '').split('?', 1)[0], error: (err as Error)?.message ?? String(err) });
  return new HttpError(500, 'internal', 'internal error; see the gateway log');
}
