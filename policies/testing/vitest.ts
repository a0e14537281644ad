// `auditgate/testing`: decide SQL against a policy bundle from a team's own vitest suite.
//
//   import { decide } from 'auditgate/testing';
//   expect(await decide({ sql: 'DELETE FROM orders', identity })).toBeDenied(/without WHERE/);
//
// Importing this module registers the matchers. The bundle is the committed default unless
// configured with usePolicyBundle(path) or AUDITGATE_POLICY_BUNDLE.
import { resolve } from 'node:path';
import { expect } from 'vitest';
import type { Identity } from '../contract.js';
import { PolicyEngine } from '../engine/engine.js';
import { DEFAULT_BUNDLE_PATH } from '../locations.js';
import { decide as decideWith, type CombinedDecision, type DecideRequest } from './decide.js';

export type { CombinedDecision, DecideRequest } from './decide.js';

let configured: string | undefined;
const engines = new Map<string, Promise<PolicyEngine>>();

/** Use this bundle for every later decide() without an explicit `bundle`. */
export function usePolicyBundle(path: string): void {
  configured = resolve(path);
}

export interface TestDecideRequest extends Omit<DecideRequest, 'identity'> {
  identity: Omit<Identity, 'claims'> & { claims?: Identity['claims'] };
  /** A built bundle (.tar.gz); default: usePolicyBundle(), $AUDITGATE_POLICY_BUNDLE, then the default policy. */
  bundle?: string;
}

/** Decides the request exactly as `auditgate policy test` and the gateway do. */
export async function decide(req: TestDecideRequest): Promise<CombinedDecision> {
  const path = resolve(req.bundle ?? configured ?? process.env.AUDITGATE_POLICY_BUNDLE ?? DEFAULT_BUNDLE_PATH);
  let engine = engines.get(path);
  if (!engine) {
    engine = PolicyEngine.fromFile(path);
    engines.set(path, engine);
  }
  return decideWith(await engine, { ...req, identity: { ...req.identity, claims: req.identity.claims ?? {} } });
}

function isDecision(x: unknown): x is CombinedDecision {
  return typeof x === 'object' && x !== null && 'outcome' in x && 'statements' in x;
}

const matches = (text: string, want: string | RegExp) =>
  typeof want === 'string' ? text.toLowerCase().includes(want.toLowerCase()) : want.test(text);

function describe(d: CombinedDecision): string {
  if (d.outcome === 'deny') return `denied: ${d.deny.join('; ')}`;
  if (d.outcome === 'approval') return `held for approval by ${d.approval.approvers.join(', ')}: ${d.approval.reason}`;
  return 'allowed';
}

expect.extend({
  toBeAllowed(received: unknown) {
    if (!isDecision(received)) return { pass: false, message: () => 'expected a decision from decide()' };
    return {
      pass: received.outcome === 'allow',
      message: () => `expected the statement${this.isNot ? ' not' : ''} to be allowed, but it was ${describe(received)}`,
    };
  },
  toBeDenied(received: unknown, reason?: string | RegExp) {
    if (!isDecision(received)) return { pass: false, message: () => 'expected a decision from decide()' };
    const pass = received.outcome === 'deny' && (reason === undefined || received.deny.some((r) => matches(r, reason)));
    return {
      pass,
      message: () =>
        `expected the statement${this.isNot ? ' not' : ''} to be denied${reason ? ` with a reason matching ${String(reason)}` : ''}, but it was ${describe(received)}`,
    };
  },
  toRequireApproval(received: unknown, approvers?: string | string[]) {
    if (!isDecision(received)) return { pass: false, message: () => 'expected a decision from decide()' };
    const want = approvers === undefined ? [] : Array.isArray(approvers) ? approvers : [approvers];
    const pass = received.outcome === 'approval' && want.every((a) => received.approval.approvers.includes(a));
    return {
      pass,
      message: () =>
        `expected the statement${this.isNot ? ' not' : ''} to require approval${want.length ? ` by ${want.join(', ')}` : ''}, but it was ${describe(received)}`,
    };
  },
  toMask(received: unknown, columns: string | string[]) {
    if (!isDecision(received)) return { pass: false, message: () => 'expected a decision from decide()' };
    const want = Array.isArray(columns) ? columns : [columns];
    const masked = received.mask.map((m) => m.column);
    const pass = want.every((c) => masked.includes(c));
    return {
      pass,
      message: () => `expected ${want.join(', ')}${this.isNot ? ' not' : ''} to be masked; mask is [${masked.join(', ')}]`,
    };
  },
});

interface AuditgateMatchers<R = unknown> {
  toBeAllowed(): R;
  toBeDenied(reason?: string | RegExp): R;
  toRequireApproval(approvers?: string | string[]): R;
  toMask(columns: string | string[]): R;
}

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-explicit-any
  interface Assertion<T = any> extends AuditgateMatchers<T> {}
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AsymmetricMatchersContaining extends AuditgateMatchers {}
}
