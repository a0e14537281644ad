// Small HTTP helpers for the admin listener (node:http only): security headers, JSON replies,
// bounded JSON bodies. Nothing here ever sees or logs the bearer token.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The page loads its script and style from this origin only: no inline script, no framing. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(tls: boolean): Record<string, string> {
  return {
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
    ...(tls ? { 'Strict-Transport-Security': 'max-age=31536000' } : {}),
  };
}

/** An HTTP error with a stable machine-readable code, answered as `{"error": {code, message}}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
}

/** `application/json`, optionally with parameters (`; charset=utf-8`). */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const type = value.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json';
}

/** Up to this much of an oversized body is read and discarded, so the client gets the 413 rather than a reset. */
const DRAIN_LIMIT = 1024 * 1024;

/**
 * Reads a JSON object body of at most `limit` bytes. 413 when larger (an oversized body is
 * drained up to 1 MiB so the client can read the answer; beyond that the connection is closed),
 * 400 when not a JSON object.
 */
export async function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const tooLarge = (close: boolean) =>
    new HttpError(413, 'body_too_large', `request body is larger than ${limit} bytes`, close ? { Connection: 'close' } : {});
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > DRAIN_LIMIT) throw tooLarge(true);
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > DRAIN_LIMIT) {
        req.off('data', onData);
        req.resume();
        reject(tooLarge(true));
        return;
      }
      if (size <= limit) chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => (size > limit ? reject(tooLarge(false)) : resolve()));
    req.once('error', (err) => reject(new HttpError(400, 'bad_request', `could not read the request body: ${err.message}`)));
  });
  const text = Buffer.concat(chunks).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the request body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'invalid_json', 'the request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** Refuses fields the route does not know (a typo like `comments` should not be silently dropped). */
export function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new HttpError(400, 'invalid_field', `unknown field(s): ${unknown.slice(0, 5).join(', ')}; allowed: ${allowed.join(', ')}`);
  }
}

/** Control characters other than tab, newline and carriage return are refused in free text (comments, reasons). */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
