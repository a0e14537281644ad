// The identity section of the gateway config: trusted issuers and how token claims map to the
// Identity the policy sees. Validated once, when the verifier is built: a bad config stops the
// gateway instead of weakening authentication.
import { isIP } from 'node:net';
import type { IdentityKind } from '../../policies/contract.js';
import { IdentityConfigError } from './errors.js';

export interface IssuerConfig {
  /** Exact `iss` of the tokens this issuer signs. */
  issuer: string;
  /** Accepted `aud` value(s); the token's `aud` must contain one of them. */
  audience: string | string[];
  /** A JWKS JSON file, re-read when it changes (mtime/size/inode). Exactly one of jwks_file, jwks_url. */
  jwks_file?: string;
  /** The issuer's JWKS endpoint (https; plain http only for loopback). Cached, with a refetch cooldown. */
  jwks_url?: string;
  /** Allow-list of JWS algorithms, e.g. ["RS256","ES256","EdDSA"]. HS* and "none" are refused. */
  algorithms: string[];
  /** Leeway for exp/nbf/iat checks. Default 30. */
  clock_tolerance_seconds?: number;
  /** Refuse tokens whose `iat` is older than this (and tokens without `iat`). */
  max_token_age_seconds?: number;
  /** jwks_url: how long fetched keys are used before refetching. Default 600. */
  jwks_cache_seconds?: number;
  /** jwks_url: minimum time between fetches triggered by an unknown `kid`. Default 30. */
  jwks_cooldown_seconds?: number;
  /** jwks_url: HTTP timeout. Default 5. */
  jwks_timeout_seconds?: number;
}

export interface ClaimMapping {
  /** Claim holding the subject. Default "sub". */
  subject?: string;
  /** Claim holding groups: an array of strings or a space/comma separated string. Default "groups". */
  groups?: string;
  /** Claim holding "agent" | "human". Default "auditgate_kind". */
  kind?: string;
  /** Kind when the claim is absent. Default "agent" (fail closed: agents get the stricter policy). */
  default_kind?: IdentityKind;
  /** Claims copied into identity.claims when present. Default model, repository, ticket, agent, session. */
  provenance?: string[];
}

export interface IdentityConfig {
  issuers: IssuerConfig[];
  claims?: ClaimMapping;
}

export const DEFAULT_PROVENANCE_CLAIMS = ['model', 'repository', 'ticket', 'agent', 'session'] as const;
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
export const DEFAULT_JWKS_CACHE_SECONDS = 600;
export const DEFAULT_JWKS_COOLDOWN_SECONDS = 30;
export const DEFAULT_JWKS_TIMEOUT_SECONDS = 5;
/** Tokens longer than this (bytes) are refused before any parsing. */
export const MAX_TOKEN_BYTES = 16 * 1024;

/** Asymmetric JWS algorithms jose verifies. Anything else (HS*, none, unknown) is a config error. */
export const SUPPORTED_ALGORITHMS: readonly string[] = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
];

/** Registered claims that identity.claims never copies (they are checked, not policy input). */
const REGISTERED = new Set(['iss', 'aud', 'exp', 'nbf', 'iat', 'jti']);

export interface ResolvedClaimMapping {
  subject: string;
  groups: string;
  kind: string;
  default_kind: IdentityKind;
  provenance: string[];
}

export interface ResolvedIssuer {
  issuer: string;
  audience: string[];
  source: { file: string } | { url: URL };
  algorithms: string[];
  clockTolerance: number;
  maxTokenAge?: number;
  cacheMaxAgeMs: number;
  cooldownMs: number;
  timeoutMs: number;
}

export interface ResolvedIdentityConfig {
  issuers: Map<string, ResolvedIssuer>;
  claims: ResolvedClaimMapping;
}

const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1';
  return false;
}

/** Checks the config and fills in defaults; throws IdentityConfigError listing every problem. */
export function resolveIdentityConfig(config: IdentityConfig): ResolvedIdentityConfig {
  const problems: string[] = [];
  const issuers = new Map<string, ResolvedIssuer>();
  if (!config || !Array.isArray(config.issuers) || config.issuers.length === 0) {
    throw new IdentityConfigError('identity: at least one issuer is required (identity.issuers)');
  }

  config.issuers.forEach((ic, i) => {
    const at = `identity.issuers[${i}]`;
    const bad = (msg: string) => problems.push(`${at}: ${msg}`);
    if (!ic || typeof ic !== 'object') return bad('must be an object');
    if (!isNonEmptyString(ic.issuer)) bad('issuer must be a non-empty string (the exact iss of its tokens)');
    else if (issuers.has(ic.issuer)) bad(`issuer ${ic.issuer} is configured twice`);

    const audience = typeof ic.audience === 'string' ? [ic.audience] : ic.audience;
    if (!Array.isArray(audience) || audience.length === 0 || !audience.every(isNonEmptyString)) {
      bad('audience is required: a non-empty string or array of non-empty strings');
    }

    let source: ResolvedIssuer['source'] | undefined;
    const hasFile = ic.jwks_file !== undefined;
    const hasUrl = ic.jwks_url !== undefined;
    if (hasFile === hasUrl) bad('exactly one of jwks_file and jwks_url is required');
    else if (hasFile) {
      if (!isNonEmptyString(ic.jwks_file)) bad('jwks_file must be a non-empty path');
      else source = { file: ic.jwks_file };
    } else {
      let url: URL | undefined;
      try {
        url = new URL(String(ic.jwks_url));
      } catch {
        bad(`jwks_url is not a URL: ${String(ic.jwks_url)}`);
      }
      if (url) {
        if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname))) source = { url };
        else bad(`jwks_url must use https (plain http only for loopback addresses): ${url.href}`);
      }
    }

    const algorithms = ic.algorithms;
    if (!Array.isArray(algorithms) || algorithms.length === 0) {
      bad('algorithms is required: a non-empty allow-list such as ["RS256", "ES256", "EdDSA"]');
    } else {
      for (const alg of algorithms) {
        if (typeof alg !== 'string') bad(`algorithms: ${JSON.stringify(alg)} is not a string`);
        else if (/^none$/i.test(alg)) bad('algorithms: "none" is refused (unsigned tokens)');
        else if (/^HS\d+$/i.test(alg)) {
          bad(`algorithms: ${alg} is refused (HMAC keys are shared secrets; a JWKS holds public keys, so HMAC enables algorithm confusion)`);
        } else if (!SUPPORTED_ALGORITHMS.includes(alg)) {
          bad(`algorithms: ${alg} is not supported (use ${SUPPORTED_ALGORITHMS.join(', ')})`);
        }
      }
    }

    const seconds = (name: keyof IssuerConfig, dflt: number | undefined, opts: { positive?: boolean } = {}) => {
      const v = ic[name];
      if (v === undefined) return dflt;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (opts.positive && v === 0)) {
        bad(`${name} must be a ${opts.positive ? 'positive' : 'non-negative'} number of seconds`);
        return dflt;
      }
      return v;
    };
    const clockTolerance = seconds('clock_tolerance_seconds', DEFAULT_CLOCK_TOLERANCE_SECONDS)!;
    const maxTokenAge = seconds('max_token_age_seconds', undefined, { positive: true });
    const cache = seconds('jwks_cache_seconds', DEFAULT_JWKS_CACHE_SECONDS)!;
    const cooldown = seconds('jwks_cooldown_seconds', DEFAULT_JWKS_COOLDOWN_SECONDS)!;
    const timeout = seconds('jwks_timeout_seconds', DEFAULT_JWKS_TIMEOUT_SECONDS, { positive: true })!;
    if (hasFile && (ic.jwks_cache_seconds !== undefined || ic.jwks_cooldown_seconds !== undefined || ic.jwks_timeout_seconds !== undefined)) {
      bad('jwks_cache_seconds, jwks_cooldown_seconds and jwks_timeout_seconds apply to jwks_url only');
    }

    if (isNonEmptyString(ic.issuer) && source && Array.isArray(audience) && Array.isArray(algorithms)) {
      issuers.set(ic.issuer, {
        issuer: ic.issuer,
        audience: [...audience],
        source,
        algorithms: [...algorithms],
        clockTolerance,
        ...(maxTokenAge === undefined ? {} : { maxTokenAge }),
        cacheMaxAgeMs: Math.round(cache * 1000),
        cooldownMs: Math.round(cooldown * 1000),
        timeoutMs: Math.round(timeout * 1000),
      });
    }
  });

  const claims = resolveClaimMapping(config.claims, problems);
  if (problems.length > 0) {
    throw new IdentityConfigError(`invalid identity config:\n  ${problems.join('\n  ')}`, problems);
  }
  return { issuers, claims };
}

function resolveClaimMapping(m: ClaimMapping | undefined, problems: string[]): ResolvedClaimMapping {
  const bad = (msg: string) => problems.push(`identity.claims: ${msg}`);
  const name = (key: 'subject' | 'groups' | 'kind', dflt: string) => {
    const v = m?.[key];
    if (v === undefined) return dflt;
    if (!isNonEmptyString(v)) {
      bad(`${key} must be a claim name`);
      return dflt;
    }
    return v;
  };
  const subject = name('subject', 'sub');
  const groups = name('groups', 'groups');
  const kind = name('kind', 'auditgate_kind');
  let default_kind: IdentityKind = 'agent';
  if (m?.default_kind !== undefined) {
    if (m.default_kind === 'agent' || m.default_kind === 'human') default_kind = m.default_kind;
    else bad('default_kind must be "agent" or "human"');
  }
  let provenance: string[] = [...DEFAULT_PROVENANCE_CLAIMS];
  if (m?.provenance !== undefined) {
    if (!Array.isArray(m.provenance) || !m.provenance.every(isNonEmptyString)) {
      bad('provenance must be an array of claim names');
    } else {
      const registered = m.provenance.filter((c) => REGISTERED.has(c));
      if (registered.length > 0) bad(`provenance: registered claims are checked, not copied: ${registered.join(', ')}`);
      provenance = [...new Set(m.provenance)];
    }
  }
  return { subject, groups, kind, default_kind, provenance };
}
