// Compares a decision with a case's `expect` block; returns every mismatch, readable.
import type { CaseExpectation } from './cases.js';
import type { CombinedDecision } from './decide.js';
import type { ConnectDecision } from '../contract.js';
import type { Outcome } from '../engine/engine.js';

const lower = (s: string) => s.toLowerCase();
const list = (x: string | string[] | undefined) => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/** The outcome an expectation implies when it does not name one. */
function expectedOutcome(e: CaseExpectation): Outcome | undefined {
  if (e.outcome) return e.outcome;
  if (e.deny !== undefined) return 'deny';
  if (e.approval !== undefined) return 'approval';
  return undefined;
}

function checkReasons(failures: string[], wanted: string[], reasons: string[], what: string): void {
  for (const w of wanted) {
    if (!reasons.some((r) => lower(r).includes(lower(w)))) {
      failures.push(`expected a ${what} containing "${w}", got ${JSON.stringify(reasons)}`);
    }
  }
}

export function checkStatement(e: CaseExpectation, d: CombinedDecision): string[] {
  const failures: string[] = [];
  const outcome = expectedOutcome(e);
  if (outcome && outcome !== d.outcome) {
    const why =
      d.outcome === 'deny' ? `: ${d.deny.join('; ')}` : d.outcome === 'approval' ? `: ${d.approval.reason}` : '';
    failures.push(`expected ${outcome}, got ${d.outcome}${why}`);
  }
  checkReasons(failures, list(e.deny), d.deny, 'deny reason');
  if (e.approval) {
    for (const a of e.approval.approvers ?? []) {
      if (!d.approval.approvers.includes(a)) failures.push(`expected approver group "${a}", got ${JSON.stringify(d.approval.approvers)}`);
    }
    if (e.approval.reason !== undefined) checkReasons(failures, [e.approval.reason], [d.approval.reason], 'approval reason');
    if (e.approval.ttl_seconds !== undefined && e.approval.ttl_seconds !== d.approval.ttl_seconds) {
      failures.push(`expected approval ttl ${e.approval.ttl_seconds}s, got ${d.approval.ttl_seconds}s`);
    }
  }
  for (const m of e.mask ?? []) {
    const want = typeof m === 'string' ? { column: m } : m;
    const got = d.mask.find((x) => x.column === want.column);
    if (!got) failures.push(`expected ${want.column} to be masked, mask is ${JSON.stringify(d.mask.map((x) => x.column))}`);
    else if (want.method && got.method !== want.method) {
      failures.push(`expected ${want.column} masked with ${want.method}, got ${got.method}`);
    }
  }
  for (const c of e.no_mask ?? []) {
    if (d.mask.some((x) => x.column === c)) failures.push(`expected ${c} not to be masked`);
  }
  for (const t of e.tags ?? []) if (!d.tags.includes(t)) failures.push(`expected tag "${t}", got ${JSON.stringify(d.tags)}`);
  for (const t of e.detectors ?? []) {
    if (!d.detectors.includes(t)) failures.push(`expected detector "${t}", got ${JSON.stringify(d.detectors)}`);
  }
  if (e.cacheable !== undefined && e.cacheable !== d.cacheable) failures.push(`expected cacheable ${e.cacheable}, got ${d.cacheable}`);
  if (e.ignores_literals !== undefined && e.ignores_literals !== d.ignoresLiterals) {
    failures.push(`expected ignores_literals ${e.ignores_literals}, got ${d.ignoresLiterals}`);
  }
  for (const k of ['upstream_role', 'read_only', 'max_session_seconds'] as const) {
    if (e[k] !== undefined) failures.push(`"${k}" applies to connect cases only`);
  }
  return failures;
}

export function checkConnect(e: CaseExpectation, d: ConnectDecision): string[] {
  const failures: string[] = [];
  const outcome = expectedOutcome(e);
  const got: Outcome = d.allow ? 'allow' : 'deny';
  if (outcome && outcome !== got) failures.push(`expected ${outcome}, got ${got}${got === 'deny' ? `: ${d.deny.join('; ')}` : ''}`);
  checkReasons(failures, list(e.deny), d.deny, 'deny reason');
  if (e.upstream_role !== undefined && e.upstream_role !== d.upstream_role) {
    failures.push(`expected upstream_role ${JSON.stringify(e.upstream_role)}, got ${JSON.stringify(d.upstream_role)}`);
  }
  if (e.read_only !== undefined && e.read_only !== d.read_only) failures.push(`expected read_only ${e.read_only}, got ${d.read_only}`);
  if (e.max_session_seconds !== undefined && e.max_session_seconds !== d.max_session_seconds) {
    failures.push(`expected max_session_seconds ${e.max_session_seconds}, got ${d.max_session_seconds}`);
  }
  for (const k of ['approval', 'mask', 'no_mask', 'tags', 'detectors', 'cacheable', 'ignores_literals'] as const) {
    if (e[k] !== undefined) failures.push(`"${k}" applies to statement cases only`);
  }
  return failures;
}
