// Where an issuer's public keys come from: a JWKS file (re-read when it changes) or a JWKS URL
// (jose's remote set: cached, refetched on an unknown kid after a cooldown). Failures to get the
// keys surface as KeySetUnavailable, so they are told apart from a bad token.
import { readFile, stat } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTVerifyGetKey } from 'jose';
import type { ResolvedIssuer } from './config.js';
import { KeySetUnavailable } from './errors.js';

export interface KeySource {
  /** A key resolver for jwtVerify, current as of this call. */
  resolver(): Promise<JWTVerifyGetKey>;
  /** Loads the keys now (startup check); throws KeySetUnavailable. */
  load(): Promise<void>;
  readonly description: string;
}

/** Errors about the token (no key for its kid/alg) pass through; anything else means "no keys". */
function passesThrough(err: unknown): boolean {
  return err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys;
}

function guard(get: JWTVerifyGetKey, description: string): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await get(header, token);
    } catch (err) {
      if (passesThrough(err) || err instanceof KeySetUnavailable) throw err;
      throw new KeySetUnavailable(`${description}: ${(err as Error).message}`, { cause: err });
    }
  };
}

/** A JWKS file, re-read when its mtime, ctime, size or inode change (atomic renames included). */
export class FileKeySource implements KeySource {
  private stamp: string | undefined;
  private current: JWTVerifyGetKey | undefined;
  private pending: Promise<JWTVerifyGetKey> | undefined;
  readonly description: string;

  constructor(readonly path: string) {
    this.description = `JWKS file ${path}`;
  }

  async load(): Promise<void> {
    await this.resolver();
  }

  async resolver(): Promise<JWTVerifyGetKey> {
    // Concurrent connections share one stat+read.
    this.pending ??= this.refresh().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async refresh(): Promise<JWTVerifyGetKey> {
    let stamp: string;
    try {
      const s = await stat(this.path, { bigint: true });
      stamp = `${s.mtimeNs}:${s.ctimeNs}:${s.size}:${s.ino}`;
    } catch (err) {
      throw new KeySetUnavailable(`${this.description}: ${(err as Error).message}`, { cause: err });
    }
    if (this.current && stamp === this.stamp) return this.current;
    let jwks: unknown;
    try {
      jwks = JSON.parse(await readFile(this.path, 'utf8'));
    } catch (err) {
      // Not remembered: a half-written file is retried on the next connection.
      throw new KeySetUnavailable(`${this.description}: ${(err as Error).message}`, { cause: err });
    }
    let local: JWTVerifyGetKey;
    try {
      local = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
    } catch (err) {
      throw new KeySetUnavailable(`${this.description}: ${(err as Error).message}`, { cause: err });
    }
    this.current = guard(local, this.description);
    this.stamp = stamp;
    return this.current;
  }
}

/** A JWKS URL through jose's createRemoteJWKSet. */
export class RemoteKeySource implements KeySource {
  private readonly remote: ReturnType<typeof createRemoteJWKSet>;
  private readonly guarded: JWTVerifyGetKey;
  readonly description: string;

  constructor(url: URL, opts: Pick<ResolvedIssuer, 'cacheMaxAgeMs' | 'cooldownMs' | 'timeoutMs'>) {
    this.description = `JWKS URL ${url.href}`;
    this.remote = createRemoteJWKSet(url, {
      cacheMaxAge: opts.cacheMaxAgeMs,
      cooldownDuration: opts.cooldownMs,
      timeoutDuration: opts.timeoutMs,
    });
    this.guarded = guard(this.remote, this.description);
  }

  async load(): Promise<void> {
    try {
      await this.remote.reload();
    } catch (err) {
      throw new KeySetUnavailable(`${this.description}: ${(err as Error).message}`, { cause: err });
    }
  }

  async resolver(): Promise<JWTVerifyGetKey> {
    return this.guarded;
  }
}

export function keySourceFor(issuer: ResolvedIssuer): KeySource {
  return 'file' in issuer.source ? new FileKeySource(issuer.source.file) : new RemoteKeySource(issuer.source.url, issuer);
}
