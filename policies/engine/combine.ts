// One verdict for a string of several statements: it runs only if every statement may.
import type { MaskInstruction, StatementDecision } from '../contract.js';
import { statementOutcome, type Outcome } from './engine.js';

export interface CombinedVerdict {
  outcome: Outcome;
  deny: string[];
  approval: { required: boolean; approvers: string[]; reason: string; ttl_seconds: number; count: number };
  mask: MaskInstruction[];
  detectors: string[];
  tags: string[];
  cacheable: boolean;
  /** Every decision holds for statements differing only in constants (policy field ignores_literals). */
  ignoresLiterals: boolean;
}

/** Any deny denies; else any required approval holds; masks, detectors and tags are unioned. */
export function combineDecisions(decisions: StatementDecision[]): CombinedVerdict {
  const outcomes = decisions.map(statementOutcome);
  const deny = decisions.flatMap((d) => d.deny);
  const held = decisions.filter((d) => d.approval.required);
  const outcome: Outcome = outcomes.includes('deny') ? 'deny' : held.length > 0 ? 'approval' : 'allow';
  const masks = new Map<string, MaskInstruction>();
  for (const d of decisions) for (const m of d.mask) masks.set(`${m.column}\u0000${m.method}`, m);
  return {
    outcome,
    deny: outcome === 'deny' && deny.length === 0 ? ['not allowed by policy'] : deny,
    approval: {
      required: held.length > 0,
      approvers: uniq(held.flatMap((d) => d.approval.approvers)),
      reason: held.map((d) => d.approval.reason).join('; '),
      ttl_seconds: held.length ? Math.min(...held.map((d) => d.approval.ttl_seconds)) : 0,
      count: held.length ? Math.max(...held.map((d) => d.approval.count ?? 1)) : 1,
    },
    mask: [...masks.values()],
    detectors: uniq(decisions.flatMap((d) => d.detectors)),
    tags: uniq(decisions.flatMap((d) => d.tags)),
    cacheable: decisions.every((d) => d.cacheable !== false),
    ignoresLiterals: decisions.length > 0 && decisions.every((d) => d.cacheable !== false && d.ignores_literals === true),
  };
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs)].sort();
}
