// A development token issuer: an Ed25519 key pair kept in a folder, so a newcomer can mint
// tokens for the gateway without an identity provider. NOT for production: whoever can read
// dev-issuer.key can be anyone.
//
//   <dir>/dev-issuer.key    PKCS#8 PEM private key, mode 0600 (refused if group/other can read it)
//   <dir>/jwks.json         the public key as a JWKS (kid = RFC 7638 thumbprint) for jwks_file
//   <dir>/dev-issuer.json   {issuer, audience, kid, algorithm}
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, importPKCS8, SignJWT, type JWK } from 'jose';
import type { IdentityKind } from '../../policies/contract.js';
import type { IssuerConfig } from './config.js';

export const DEV_ISSUER_DEFAULT = 'https://auditgate.dev/dev-issuer';
export const DEV_AUDIENCE_DEFAULT = 'auditgate';
export const DEV_ALGORITHM = 'EdDSA';
const KEY_FILE = 'dev-issuer.key';
const JWKS_FILE = 'jwks.json';
const META_FILE = 'dev-issuer.json';

export interface DevIssuer {
  dir: string;
  issuer: string;
  audience: string;
  jwksPath: string;
  /** Path of the private key (0600). */
  keyPath: string;
  kid: string;
  algorithm: string;
}

export interface DevTokenRequest {
  sub: string;
  /** Written as the `groups` claim (array). */
  groups?: string[];
  /** Written as the `auditgate_kind` claim. */
  kind?: IdentityKind;
  /** Extra claims (provenance: model, repository, ticket, ...). Registered claims are refused. */
  claims?: Record<string, unknown>;
  /** Lifetime; default 3600. */
  ttlSeconds?: number;
}

/** `${AUDITGATE_HOME:-~/.auditgate}/dev-issuer` */
export function defaultDevIssuerDir(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.AUDITGATE_HOME && env.AUDITGATE_HOME.length > 0 ? env.AUDITGATE_HOME : join(homedir(), '.auditgate');
  return join(home, 'dev-issuer');
}

/** The issuers[] entry that trusts this dev issuer (for `identity.dev_issuer` or a test gateway). */
export function devIssuerConfig(dev: DevIssuer): IssuerConfig {
  return { issuer: dev.issuer, audience: dev.audience, jwks_file: dev.jwksPath, algorithms: [dev.algorithm] };
}

interface Meta {
  issuer: string;
  audience: string;
  kid: string;
  algorithm: string;
  warning: string;
}

/**
 * Creates the dev issuer in `dir` on first use (key pair, JWKS, metadata) and reuses it after.
 * `issuer`/`audience`, when given, replace the stored ones (later tokens use them).
 */
export async function ensureDevIssuer(dir: string, opts: { issuer?: string; audience?: string } = {}): Promise<DevIssuer> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, KEY_FILE);
  const jwksPath = join(dir, JWKS_FILE);
  const metaPath = join(dir, META_FILE);

  const pem = await readOrCreateKey(keyPath);
  const publicJwk = createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' }) as JWK;
  if (publicJwk.kty !== 'OKP' || publicJwk.crv !== 'Ed25519') {
    throw new Error(`${keyPath} is not an Ed25519 key; remove ${dir} to start a new dev issuer`);
  }
  const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: publicJwk.x! });
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: publicJwk.x, kid, alg: DEV_ALGORITHM, use: 'sig' };
  const jwksText = `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`;
  if ((await readIfExists(jwksPath)) !== jwksText) await writeAtomic(jwksPath, jwksText, 0o644);

  const stored = parseMeta(await readIfExists(metaPath));
  const meta: Meta = {
    issuer: opts.issuer ?? str(stored?.issuer) ?? DEV_ISSUER_DEFAULT,
    audience: opts.audience ?? str(stored?.audience) ?? DEV_AUDIENCE_DEFAULT,
    kid,
    algorithm: DEV_ALGORITHM,
    warning: 'development issuer: not for production',
  };
  if (!meta.issuer) throw new Error('the dev issuer needs a non-empty issuer');
  if (!meta.audience) throw new Error('the dev issuer needs a non-empty audience');
  const metaText = `${JSON.stringify(meta, null, 2)}\n`;
  if ((await readIfExists(metaPath)) !== metaText) await writeAtomic(metaPath, metaText, 0o644);

  return { dir, issuer: meta.issuer, audience: meta.audience, jwksPath, keyPath, kid, algorithm: DEV_ALGORITHM };
}

/** Signs a token with the dev issuer in `dir` (created with defaults if missing). */
export async function issueDevToken(dir: string, req: DevTokenRequest): Promise<string> {
  if (typeof req.sub !== 'string' || req.sub.length === 0) throw new Error('a subject (sub) is required');
  const ttl = req.ttlSeconds ?? 3600;
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error(`ttl must be a positive whole number of seconds, got ${ttl}`);
  if (req.kind !== undefined && req.kind !== 'agent' && req.kind !== 'human') throw new Error(`kind must be agent or human, got ${String(req.kind)}`);
  const extra = req.claims ?? {};
  const reserved = Object.keys(extra).filter((c) => ['iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sub'].includes(c));
  if (reserved.length > 0) throw new Error(`claims must not set registered claims (${reserved.join(', ')}); use the options instead`);

  const dev = await ensureDevIssuer(dir);
  const key = await importPKCS8(await readKey(dev.keyPath), DEV_ALGORITHM);
  const payload: Record<string, unknown> = { ...extra };
  if (req.groups !== undefined) payload.groups = req.groups;
  if (req.kind !== undefined) payload.auditgate_kind = req.kind;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(payload)
    .setProtectedHeader({ alg: DEV_ALGORITHM, kid: dev.kid, typ: 'JWT' })
    .setIssuer(dev.issuer)
    .setAudience(dev.audience)
    .setSubject(req.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .setJti(randomUUID())
    .sign(key);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

async function readOrCreateKey(keyPath: string): Promise<string> {
  try {
    return await readKey(keyPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  // Write beside, then link: the key appears complete or not at all, and a concurrent first use
  // cannot replace a key another process already handed out tokens with.
  const tmp = `${keyPath}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(tmp, pem, { mode: 0o600, flag: 'wx' });
  await chmod(tmp, 0o600);
  try {
    await link(tmp, keyPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return readKey(keyPath);
}

async function readKey(keyPath: string): Promise<string> {
  if (process.platform !== 'win32') {
    const mode = (await stat(keyPath)).mode & 0o777;
    if (mode & 0o077) {
      throw new Error(`${keyPath} is accessible by other users (mode ${mode.toString(8)}); run chmod 600 ${keyPath}`);
    }
  }
  return readFile(keyPath, 'utf8');
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, path);
}

function parseMeta(text: string | undefined): Partial<Meta> | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v as Partial<Meta>) : undefined;
  } catch {
    return undefined;
  }
}
