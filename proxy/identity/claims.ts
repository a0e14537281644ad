// Verified token claims -> the Identity the policy sees. Only the configured claims are copied:
// the policy input never carries the whole token.
import type { JWTPayload } from 'jose';
import type { Identity, IdentityKind } from '../../policies/contract.js';
import type { ResolvedClaimMapping } from './config.js';
import { AuthError } from './errors.js';

/** Parses a groups claim: an array of strings, or one string separated by spaces and/or commas. */
export function parseGroups(value: unknown, claim = 'groups'): string[] {
  if (value === undefined || value === null) return [];
  let parts: string[];
  if (typeof value === 'string') parts = value.split(/[\s,]+/);
  else if (Array.isArray(value) && value.every((g) => typeof g === 'string')) parts = value as string[];
  else throw malformed(claim, `must be an array of strings or a string, got ${describe(value)}`);
  return [...new Set(parts.map((g) => g.trim()).filter((g) => g.length > 0))];
}

export function mapClaims(payload: JWTPayload, issuer: string, m: ResolvedClaimMapping): Identity {
  const subject = payload[m.subject];
  if (subject === undefined || subject === null || subject === '') {
    throw new AuthError('missing_subject', `token has no "${m.subject}" claim (issuer ${issuer})`);
  }
  if (typeof subject !== 'string') throw malformed(m.subject, `must be a string, got ${describe(subject)}`);

  const groups = parseGroups(payload[m.groups], m.groups);

  let kind: IdentityKind = m.default_kind;
  const rawKind = payload[m.kind];
  if (rawKind !== undefined && rawKind !== null) {
    if (rawKind !== 'agent' && rawKind !== 'human') {
      throw malformed(m.kind, `must be "agent" or "human", got ${describe(rawKind)}`);
    }
    kind = rawKind;
  }

  // fromEntries defines own properties: a claim named __proto__ stays data.
  const claims: Record<string, unknown> = Object.fromEntries(
    m.provenance.filter((name) => Object.hasOwn(payload, name) && payload[name] !== undefined).map((name) => [name, payload[name]]),
  );
  return { subject, issuer, groups, kind, claims };
}

function malformed(claim: string, why: string): AuthError {
  return new AuthError('malformed_claim', `claim "${claim}" ${why}`, {
    clientMessage: `invalid token: malformed ${claim} claim`,
  });
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array with non-string members';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return v === null ? 'null' : typeof v;
}
