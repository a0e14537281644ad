// Shared by the identity test files (not a test itself): keys, JWKS files, signed tokens.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { base64url, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { AuthError, type AuthFailureReason } from './errors.js';
import type { IdentityVerifier } from './verifier.js';

export const ISSUER = 'https://idp.acme.test';
export const AUDIENCE = 'auditgate';
export const now = () => Math.floor(Date.now() / 1000);

export interface TestKey {
  alg: string;
  kid: string | undefined;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** Public JWK as it goes into a JWKS. */
  jwk: JWK;
}

let counter = 0;
export async function makeKey(alg: 'EdDSA' | 'RS256' | 'ES256', opts: { kid?: string | null } = {}): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = opts.kid === null ? undefined : (opts.kid ?? `${alg.toLowerCase()}-${++counter}`);
  const jwk: JWK = { ...(await exportJWK(publicKey)), alg, use: 'sig', ...(kid ? { kid } : {}) };
  return { alg, kid, privateKey, publicKey, jwk };
}

export const jwks = (...keys: TestKey[]) => ({ keys: keys.map((k) => k.jwk) });

/** Signs claims with defaults (iss ISSUER, aud AUDIENCE, sub, iat now, exp now+300); `undefined` removes a claim. */
export async function sign(key: TestKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload: Record<string, unknown> = { iss: ISSUER, aud: AUDIENCE, sub: 'agent:test', iat: now(), exp: now() + 300, ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload as JWTPayload)
    .setProtectedHeader({ alg: key.alg, ...(key.kid ? { kid: key.kid } : {}), ...header } as { alg: string })
    .sign(key.privateKey);
}

/** base64url(JSON) of a value, for hand-crafted tokens. */
export const b64json = (v: unknown) => base64url.encode(JSON.stringify(v));

/** A temporary folder removed after the file's tests. */
export async function tempDir(prefix = 'auditgate-identity-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  afterAll(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function writeJwks(path: string, ...keys: TestKey[]): Promise<string> {
  await writeFile(path, JSON.stringify(jwks(...keys)));
  return path;
}

/**
 * Expects verify() to refuse `token` with this reason, SQLSTATE and client message, and checks
 * that neither the message nor the detail carries the token or its signature.
 */
export async function expectRefused(
  verifier: IdentityVerifier,
  token: string,
  expected: { reason: AuthFailureReason; sqlstate: '28000' | '28P01'; clientMessage?: string | RegExp },
): Promise<AuthError> {
  const err = await verifier.verify(token).then(
    (identity) => {
      throw new Error(`expected a refusal (${expected.reason}), got identity ${JSON.stringify(identity)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  const auth = err as AuthError;
  expect({ reason: auth.reason, sqlstate: auth.sqlstate }).toEqual({ reason: expected.reason, sqlstate: expected.sqlstate });
  if (typeof expected.clientMessage === 'string') expect(auth.clientMessage).toBe(expected.clientMessage);
  else if (expected.clientMessage) expect(auth.clientMessage).toMatch(expected.clientMessage);
  expect(auth.message).toBe(auth.clientMessage);
  expect(auth.detail.length).toBeGreaterThan(0);
  const secretParts = typeof token !== 'string' ? [] : [token, ...token.split('.').filter((p) => p.length >= 16)];
  for (const part of secretParts) {
    if (part.length === 0) continue;
    expect(auth.clientMessage).not.toContain(part);
    expect(auth.detail).not.toContain(part);
  }
  return auth;
}
