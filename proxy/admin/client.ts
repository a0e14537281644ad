// A small client for the admin API (docs/approvals.md#admin-api), used by `auditgate approvals`
// and `auditgate access`. node:http / node:https, so a private CA can be given (--ca).
// The token goes in the Authorization header only; it is never part of an error message.
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AccessRequest, RequestStatus } from '../approvals/types.js';
import type { Identity } from '../../policies/contract.js';
import type { RequestView } from './server.js';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:6480';
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** The API answered with an error status: `status`, and its `{error: {code, message}}`. */
export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AdminApiError';
  }
}

/** The API could not be reached (refused, DNS, TLS, timeout) or answered something that is not the API. */
export class AdminConnectionError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'AdminConnectionError';
  }
}

export interface MeResponse {
  identity: Identity;
  grants: { role: string; until: string; request_id: string }[];
  can_approve: boolean;
  access_requests: boolean;
  requestable_roles: string[];
  server_time: string;
}

export interface AdminClientOptions {
  /** Base URL of the admin listener, e.g. https://gateway.acme.test:6480 */
  url: string;
  token: string;
  /** PEM CA certificate(s) to trust for https (a private CA or a self-signed certificate). */
  ca?: string | Buffer;
  timeoutMs?: number;
}

export class AdminClient {
  private readonly base: URL;

  constructor(private readonly opts: AdminClientOptions) {
    let base: URL;
    try {
      base = new URL(opts.url);
    } catch {
      throw new AdminConnectionError(`not a URL: ${JSON.stringify(opts.url)} (expected e.g. ${DEFAULT_ADMIN_URL})`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new AdminConnectionError(`the admin URL must be http:// or https:// (got ${base.protocol})`);
    }
    if (base.username || base.password) throw new AdminConnectionError('the admin URL must not contain credentials; use --token or AUDITGATE_TOKEN');
    if (base.search || base.hash) throw new AdminConnectionError('the admin URL must not have a query or fragment');
    this.base = base;
  }

  get url(): string {
    return this.base.origin + this.base.pathname.replace(/\/+$/, '');
  }

  me(): Promise<MeResponse> {
    return this.call('GET', '/api/me');
  }

  list(filter: { status?: RequestStatus[] | 'all'; type?: 'statement' | 'access'; limit?: number } = {}): Promise<{ requests: RequestView[]; server_time: string }> {
    const q = new URLSearchParams();
    q.set('status', filter.status === undefined ? 'pending' : filter.status === 'all' ? 'all' : filter.status.join(','));
    if (filter.type) q.set('type', filter.type);
    if (filter.limit !== undefined) q.set('limit', String(filter.limit));
    return this.call('GET', `/api/requests?${q.toString()}`);
  }

  get(id: string): Promise<{ request: RequestView; server_time: string }> {
    return this.call('GET', `/api/requests/${encodeURIComponent(id)}`);
  }

  decide(id: string, decision: 'approve' | 'reject', comment: string): Promise<{ request: RequestView; server_time: string }> {
    return this.call('POST', `/api/requests/${encodeURIComponent(id)}/${decision}`, { comment });
  }

  requestAccess(r: { role: string; minutes: number; reason: string }): Promise<{ request: AccessRequest & Pick<RequestView, 'viewer'>; server_time: string }> {
    return this.call('POST', '/api/access-requests', r);
  }

  private call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const target = new URL(this.base.pathname.replace(/\/+$/, '') + path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { Accept: 'application/json', Authorization: `Bearer ${this.opts.token}` };
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const https = target.protocol === 'https:';
    const options: RequestOptions & { ca?: string | Buffer } = {
      method,
      headers,
      timeout: this.opts.timeoutMs ?? 30_000,
      ...(https && this.opts.ca ? { ca: this.opts.ca } : {}),
    };
    return new Promise<T>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(target, options, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new AdminConnectionError(`the response from ${this.url} is larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', (err) => reject(connectionError(err, this.url)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let data: unknown;
          try {
            data = text === '' ? null : JSON.parse(text);
          } catch {
            reject(new AdminConnectionError(`${this.url} answered HTTP ${res.statusCode} with something that is not JSON: is it the auditgate admin listener?`));
            return;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(data as T);
            return;
          }
          const err = (data as { error?: { code?: unknown; message?: unknown } } | null)?.error;
          reject(
            new AdminApiError(
              status,
              typeof err?.code === 'string' ? err.code : `http_${status}`,
              typeof err?.message === 'string' ? err.message : `HTTP ${status}`,
            ),
          );
        });
      });
      req.on('timeout', () => req.destroy(new AdminConnectionError(`no answer from ${this.url} within ${(this.opts.timeoutMs ?? 30_000) / 1000}s`, 'ETIMEDOUT')));
      req.on('error', (err) => reject(connectionError(err, this.url)));
      if (payload) req.end(payload);
      else req.end();
    });
  }
}

function connectionError(err: Error, url: string): Error {
  if (err instanceof AdminConnectionError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused (is the gateway running with the admin listener enabled, and is --admin right?)'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'host not found'
        : code === 'ECONNRESET'
          ? 'the connection was reset (https:// against a plain listener, or the other way round?)'
          : code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
            ? `the server's certificate is not trusted (${code}); pass its CA with --ca FILE`
            : code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER'
              ? 'TLS handshake failed (http:// against a TLS listener, or the other way round?)'
              : err.message;
  return new AdminConnectionError(`cannot reach the admin API at ${url}: ${why}`, code);
}
