// Turns the password an agent sent (a JWT) into the Identity the policy sees, or an AuthError.
//
// Order of checks: length (before any parsing) -> shape -> unverified `iss` picks the issuer
// config (unknown: refused) -> header `alg` against that issuer's allow-list -> jose jwtVerify
// (signature with the issuer's JWKS, algorithms, iss, aud, exp required, nbf, iat/max age, clock
// tolerance) -> claim mapping (subject required; groups and kind shapes checked).
// The token itself is never logged, recorded or echoed: only reasons, claim names and header
// fields (truncated) reach AuthError.detail.
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions, type JWTVerifyGetKey } from 'jose';
import type { Identity } from '../../policies/contract.js';
import { mapClaims } from './claims.js';
import { MAX_TOKEN_BYTES, resolveIdentityConfig, type IdentityConfig, type ResolvedClaimMapping, type ResolvedIssuer } from './config.js';
import { AuthError, IdentityConfigError, KeySetUnavailable } from './errors.js';
import { keySourceFor, type KeySource } from './jwks.js';

export type { ClaimMapping, IdentityConfig, IssuerConfig } from './config.js';
export { AuthError, IdentityConfigError } from './errors.js';
export type { AuthFailureReason } from './errors.js';

/** Three base64url segments; the signature may be empty (so alg "none" is refused by name, below). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

interface TrustedIssuer {
  config: ResolvedIssuer;
  keys: KeySource;
  options: JWTVerifyOptions;
}

export class IdentityVerifier {
  private readonly issuers = new Map<string, TrustedIssuer>();
  private readonly claims: ResolvedClaimMapping;

  /** Validates the config (throws IdentityConfigError); keys are loaded on first use or by preload(). */
  constructor(config: IdentityConfig) {
    const resolved = resolveIdentityConfig(config);
    this.claims = resolved.claims;
    for (const [iss, ic] of resolved.issuers) {
      this.issuers.set(iss, {
        config: ic,
        keys: keySourceFor(ic),
        options: {
          algorithms: ic.algorithms,
          issuer: ic.issuer,
          audience: ic.audience,
          clockTolerance: ic.clockTolerance,
          requiredClaims: ['exp'],
          ...(ic.maxTokenAge === undefined ? {} : { maxTokenAge: ic.maxTokenAge }),
        },
      });
    }
  }

  /** The configured issuers (exact iss values). */
  get issuerNames(): string[] {
    return [...this.issuers.keys()];
  }

  /**
   * Loads every issuer's keys now, so a missing or broken JWKS stops the gateway at startup
   * rather than refusing every agent later. Remote sets are fetched only with `{remote: true}`.
   */
  async preload(opts: { remote?: boolean } = {}): Promise<void> {
    const problems: string[] = [];
    for (const { config, keys } of this.issuers.values()) {
      if (!opts.remote && 'url' in config.source) continue;
      try {
        await keys.load();
      } catch (err) {
        problems.push(`issuer ${config.issuer}: ${(err as Error).message}`);
      }
    }
    if (problems.length > 0) throw new IdentityConfigError(`identity keys unavailable:\n  ${problems.join('\n  ')}`, problems);
  }

  async verify(password: string): Promise<Identity> {
    if (typeof password !== 'string' || password.trim() === '') {
      throw new AuthError('missing_token', 'no password (JWT) was sent');
    }
    const token = password.trim();
    const bytes = Buffer.byteLength(token, 'utf8');
    if (bytes > MAX_TOKEN_BYTES) {
      throw new AuthError('token_too_long', `password is ${bytes} bytes; tokens are limited to ${MAX_TOKEN_BYTES}`);
    }
    if (!COMPACT_JWS.test(token)) {
      throw new AuthError('not_a_jwt', 'password is not a compact JWS (three base64url segments)');
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch (err) {
      throw new AuthError('not_a_jwt', `password does not decode as a JWT: ${(err as Error).message}`);
    }

    const iss = unverified.iss;
    if (iss === undefined) throw new AuthError('missing_issuer', 'token has no iss claim');
    if (typeof iss !== 'string') throw new AuthError('missing_issuer', `token iss is a ${typeof iss}, not a string`);
    const trusted = this.issuers.get(iss);
    if (!trusted) {
      throw new AuthError('untrusted_issuer', `iss ${show(iss)} is not a configured issuer (${this.issuers.size} configured)`);
    }

    const ctx = `issuer ${trusted.config.issuer}, alg ${show(header.alg)}${header.kid === undefined ? '' : `, kid ${show(header.kid)}`}`;
    // jose enforces `algorithms` too; checking first makes the refusal independent of the key set.
    if (typeof header.alg !== 'string' || !trusted.config.algorithms.includes(header.alg)) {
      throw new AuthError('algorithm_not_accepted', `${ctx}: not in the issuer's allow-list [${trusted.config.algorithms.join(', ')}]`);
    }

    let payload: JWTPayload;
    try {
      const getKey = await trusted.keys.resolver();
      payload = await verifyJwt(token, getKey, trusted.options);
    } catch (err) {
      throw toAuthError(err, ctx, trusted.config);
    }
    return mapClaims(payload, trusted.config.issuer, this.claims);
  }
}

async function verifyJwt(token: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, getKey, options)).payload;
  } catch (err) {
    // jose leaves "several keys match this header" (e.g. a rotation without kids) to the caller.
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const key of err) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (inner) {
        if (inner instanceof errors.JWSSignatureVerificationFailed) continue;
        throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed('no matching key verified the signature');
  }
}

function toAuthError(err: unknown, ctx: string, issuer: ResolvedIssuer): AuthError {
  const msg = (err as Error)?.message ?? String(err);
  const at = (reason: ConstructorParameters<typeof AuthError>[0], detail: string, clientMessage?: string) =>
    new AuthError(reason, `${ctx}: ${detail}`, { cause: err, ...(clientMessage ? { clientMessage } : {}) });

  if (err instanceof AuthError) return err;
  if (err instanceof KeySetUnavailable) return at('keys_unavailable', msg);
  if (err instanceof errors.JOSEAlgNotAllowed) return at('algorithm_not_accepted', msg);
  if (err instanceof errors.JWSSignatureVerificationFailed) return at('signature_invalid', msg);
  if (err instanceof errors.JWKSNoMatchingKey) return at('unknown_key', 'no key in the issuer\'s JWKS matches the token header');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return at('signature_invalid', msg);
  if (err instanceof errors.JWTExpired) {
    if (err.claim === 'iat') return at('too_old', `iat ${String(err.payload.iat)} is older than max_token_age_seconds ${issuer.maxTokenAge}`);
    return at('expired', `exp ${String(err.payload.exp)} is past (now ${Math.floor(Date.now() / 1000)}, tolerance ${issuer.clockTolerance}s)`);
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = err;
    if (reason === 'missing') {
      if (claim === 'exp') return at('missing_expiry', 'token has no exp claim');
      if (claim === 'iat') return at('malformed_claim', 'token has no iat claim (max_token_age_seconds is set)', 'invalid token: no issued-at (iat) claim');
      if (claim === 'aud') return at('audience_not_accepted', 'token has no aud claim');
      return at('malformed_claim', `token has no ${claim} claim`, `invalid token: no ${claim} claim`);
    }
    if (reason === 'invalid') return at('malformed_claim', msg, `invalid token: malformed ${claim} claim`);
    switch (claim) {
      case 'nbf':
        return at('not_yet_valid', `nbf ${String(err.payload.nbf)} is in the future (now ${Math.floor(Date.now() / 1000)}, tolerance ${issuer.clockTolerance}s)`);
      case 'iat':
        return at('issued_in_future', `iat ${String(err.payload.iat)} is in the future`);
      case 'aud':
        return at('audience_not_accepted', `aud ${show(err.payload.aud)} not in [${issuer.audience.join(', ')}]`);
      case 'iss':
        return at('issuer_mismatch', `iss ${show(err.payload.iss)}`);
      default:
        return at('verification_failed', msg);
    }
  }
  // JOSENotSupported: e.g. a `crit` header parameter we do not implement (unknown algorithms never get this far).
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid || err instanceof errors.JOSENotSupported) {
    return at('malformed_token', msg);
  }
  return at('verification_failed', msg);
}

/** A header or claim value for a log line: JSON, at most 100 characters. */
function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 100 ? `${s.slice(0, 100)}...` : s;
}
