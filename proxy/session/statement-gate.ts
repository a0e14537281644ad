// Decides SQL before it is forwarded: analyzer facts, one policy decision per statement,
// combined (any deny denies). Until approvals exist, a statement that needs one is denied.
import { analyze } from '../analysis/index.js';
import { statementText } from '../analysis/analyze.js';
import { shapeOf } from '../analysis/shape.js';
import type { PreparedRegistry, StatementFacts } from '../analysis/facts.js';
import type { ApprovalInfo, Identity, SessionInfo, StatementDecision } from '../../policies/contract.js';
import { timeInfo } from '../../policies/contract.js';
import { combineDecisions, type CombinedVerdict } from '../../policies/engine/combine.js';
import type { PolicyEngine } from '../../policies/engine/engine.js';
import type { DecisionCache } from './decision-cache.js';
import { binaryCopyRefusal } from '../masking/copy.js';

export interface GateContext {
  engine: PolicyEngine;
  identity: Identity;
  session: SessionInfo;
  /** Shared by the gateway's sessions; absent: every statement is decided afresh. */
  cache?: DecisionCache<Verdict>;
  /** sessionContextKey(identity, session), computed once per session. */
  contextKey?: string;
  /** The cache's number for (bundle, contextKey), kept while the bundle stays the same. */
  contextMemo?: { bundle: string; id: number };
}

export interface Verdict extends CombinedVerdict {
  facts: StatementFacts[];
  decisions: StatementDecision[];
  /** What the agent is told when the verdict is not allow. */
  refusal: string | null;
}

export interface GateOptions {
  protocol: 'simple' | 'extended';
  inTransaction: boolean;
  prepared?: PreparedRegistry;
  params?: (string | null)[];
  /** Facts already known (EXECUTE of a protocol-level prepared statement). */
  facts?: StatementFacts[];
  /** The approval that released this statement (policy input `approval`); never cached. */
  approval?: ApprovalInfo;
}

/** Statements whose facts depend on session state the cache key does not hold. */
const UNCACHEABLE_KINDS = new Set(['prepare', 'execute', 'deallocate']);

/** Kinds whose facts hold no constant's value (a COPY target, a SET value, a body, a name do). */
const SHAPE_KINDS = new Set(['select', 'insert', 'update', 'delete', 'merge']);

/**
 * `LIMIT 5`, `LIMIT NULL` and `LIMIT ALL` have the same shape but not the same has_limit fact:
 * statements with a LIMIT or FETCH clause (or the word anywhere) are decided on their exact text.
 */
const LIMIT_WORD = /limit|fetch/i;

export function decideSql(ctx: GateContext, sql: string, opts: GateOptions): Verdict {
  if (!ctx.cache || ctx.contextKey === undefined || opts.facts || opts.params || opts.approval) return decideFresh(ctx, sql, opts);
  const bundle = ctx.engine.bundleSha256;
  if (ctx.contextMemo?.bundle !== bundle) ctx.contextMemo = { bundle, id: ctx.cache.contextId(`${bundle}\u0000${ctx.contextKey}`) };
  const prefix = `${ctx.contextMemo.id}\u0000${opts.protocol}\u0000${opts.inTransaction ? 1 : 0}\u0000`;
  const key = prefix + sql;
  const hit = ctx.cache.get(key);
  if (hit) return hit;
  // Simple-protocol statements carry their constants in the text: decisions the policy made
  // without reading them are shared by shape. (Extended-protocol statements have parameters
  // instead and are decided once at Parse.)
  const text = opts.protocol === 'simple' ? statementText(sql) : null;
  const shape = text !== null && !LIMIT_WORD.test(text) ? shapeOf(text) : null;
  const shapeKey = shape === null ? null : `${prefix}shape\u0000${shape}`;
  if (shapeKey !== null) {
    const same = ctx.cache.get(shapeKey);
    if (same) return withText(same, text!);
  }
  const verdict = decideFresh(ctx, sql, opts);
  if (verdict.cacheable && !verdict.facts.some((f) => UNCACHEABLE_KINDS.has(f.kind))) {
    if (shapeKey !== null && holdsForShape(verdict, text!)) ctx.cache.set(shapeKey, verdict);
    else ctx.cache.set(key, verdict);
  }
  return verdict;
}

/** One statement whose facts and decision read no constant, and whose text is the whole string. */
function holdsForShape(v: Verdict, text: string): boolean {
  if (!v.ignoresLiterals || v.facts.length !== 1) return false;
  const f = v.facts[0]!;
  return (
    SHAPE_KINDS.has(f.kind) &&
    f.param_count === 0 &&
    !f.has_limit &&
    f.copy === null &&
    f.set === null &&
    f.explain === null &&
    f.prepared === null &&
    f.procedural === null &&
    f.utility === null &&
    f.error === null &&
    f.sql === text
  );
}

/** The shared verdict of a shape, with this statement's own text in its facts. */
function withText(v: Verdict, text: string): Verdict {
  return { ...v, facts: [{ ...v.facts[0]!, sql: text }] };
}

function decideFresh(ctx: GateContext, sql: string, opts: GateOptions): Verdict {
  const facts = opts.facts
    ? opts.facts.map((f) => (opts.params ? { ...f, params: opts.params } : f))
    : analyze(sql, { protocol: opts.protocol, prepared: opts.prepared, params: opts.params, in_transaction: opts.inTransaction });
  const time = timeInfo();
  const decisions = facts.map((statement) =>
    ctx.engine.decideStatement({ identity: ctx.identity, session: ctx.session, time, statement, approval: opts.approval ?? null }),
  );
  const combined = combineDecisions(decisions);
  // Binary COPY output cannot be masked: refused when the statement reads sensitive data.
  const copyRefusals = facts.flatMap((f, i) => {
    const d = decisions[i]!;
    const why = f.copy?.direction === 'to' ? binaryCopyRefusal(f.copy.format, d.mask.length > 0 || d.detectors.length > 0 || d.tags.includes('sensitive')) : null;
    return why ? [why] : [];
  });
  let refusal: string | null = null;
  if (combined.outcome === 'deny' || copyRefusals.length) {
    combined.outcome = 'deny';
    combined.deny = [...combined.deny, ...copyRefusals];
    refusal = `auditgate: denied: ${combined.deny.join('; ')}`;
  } else if (combined.outcome === 'approval') refusal = `auditgate: denied: approval required: ${combined.approval.reason}`;
  return { ...combined, facts, decisions, refusal };
}
