// From a statement's decision and the resolved origins of its result columns, decide per column:
// pass, mask (with which method, and why), or scan with the content detectors. Fail closed: a
// column whose origin is unknown while the statement touches sensitive data is masked.
import type { StatementDecision } from '../../policies/contract.js';
import type { ResolvedColumn } from './catalog.js';
import { detectorSet, type DetectorHits, type DetectorSet } from './detectors.js';
import { constantReplacement, normalizeMethod, stricter, typeClass, type MaskMethod, type TypeClass } from './methods.js';

export type MaskReason =
  | 'column' // the column (or the same column of an inheritance ancestor) is in the decision's mask list
  | 'view' // a view column whose base column is in the mask list
  | 'classified' // not in the decision, but in the gateway's classification (reached through a view)
  | 'whole-row' // a whole-row value of a table with masked or classified columns
  | 'unknown-origin' // an expression, aggregate, cast, function, set operation, or a view column computed from one
  | 'unresolved' // the catalog did not answer for this table OID
  | 'no-description'; // a DataRow without a RowDescription to plan from

export type ColumnAction = 'pass' | 'mask' | 'scan';

export type StatementMaskInput = Pick<StatementDecision, 'mask' | 'detectors' | 'tags'>;

export interface MaskRulesInput {
  decision: StatementMaskInput;
  /** Method for columns masked without a method of their own (unknown origin, whole rows): default redact. */
  defaultMethod?: string;
  /** The gateway's own knowledge that the statement touches a sensitive table. */
  touchedSensitive?: boolean;
  /**
   * Optional classification of columns ("schema.table.column" → method) independent of the decision,
   * e.g. from the policy data. Used for columns the decision could not know about: base columns
   * reached through a view the policy saw only by its own name.
   */
  classified?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /**
   * Tables the policy saw in the statement (schema null: unqualified). The classification masks
   * only columns of tables the policy did not see (views, FETCH from a cursor): where it saw the
   * table, its decision (with the identity's clearances) stands.
   */
  seenTables?: readonly { schema: string | null; name: string }[];
  /** Also run the detectors over passing text columns of a sensitive statement (default false). */
  scanPassingColumns?: boolean;
  /** Key of the `hash` method. Empty: `hash` degrades to `redact`. */
  hashKey: Buffer | string;
}

/** Everything about one statement that masking needs, precomputed once. */
export interface MaskRules {
  /** lower-case "schema.table.column" → method, from the decision */
  readonly columns: ReadonlyMap<string, MaskMethod>;
  /** lower-case "schema.table.column" → method, from the classification */
  readonly classified: ReadonlyMap<string, MaskMethod>;
  /** lower-case "schema.table" (or "*.table" when unqualified) the policy saw */
  readonly seen: ReadonlySet<string>;
  /** lower-case "schema.table" of every table with a masked or classified column */
  readonly tables: ReadonlySet<string>;
  readonly detectors: DetectorSet;
  /** The statement touches sensitive data: unknown origins are masked. */
  readonly sensitive: boolean;
  readonly defaultMethod: MaskMethod;
  readonly scanPassing: boolean;
  readonly hashKey: Buffer;
  /** Detector hits of the statement, by detector name (shared by every plan of the statement). */
  readonly hits: DetectorHits;
}

const lower = (s: string): string => s.toLowerCase();
const tableKey = (schema: string, table: string): string => `${lower(schema)}.${lower(table)}`;
const columnKey = (schema: string, table: string, column: string): string => `${lower(schema)}.${lower(table)}.${lower(column)}`;

function tableOf(columnName: string): string | null {
  const i = columnName.lastIndexOf('.');
  return i > 0 ? columnName.slice(0, i) : null;
}

export function maskRules(input: MaskRulesInput): MaskRules {
  const { decision } = input;
  const columns = new Map<string, MaskMethod>();
  const tables = new Set<string>();
  for (const m of decision.mask ?? []) {
    const k = lower(m.column);
    const method = normalizeMethod(m.method);
    const prev = columns.get(k);
    columns.set(k, prev ? stricter(prev, method) : method);
    const t = tableOf(k);
    if (t) tables.add(t);
  }
  const classified = new Map<string, MaskMethod>();
  const entries = input.classified instanceof Map ? input.classified.entries() : Object.entries(input.classified ?? {});
  for (const [column, method] of entries) {
    const k = lower(column);
    classified.set(k, normalizeMethod(method));
    const t = tableOf(k);
    if (t) tables.add(t);
  }
  const detectors = detectorSet(decision.detectors ?? []);
  const sensitive =
    input.touchedSensitive === true || (decision.tags ?? []).includes('sensitive') || !detectors.empty || columns.size > 0;
  const seen = new Set((input.seenTables ?? []).map((t) => `${t.schema === null ? '*' : lower(t.schema)}.${lower(t.name)}`));
  return {
    columns,
    classified,
    seen,
    tables,
    detectors,
    sensitive,
    defaultMethod: normalizeMethod(input.defaultMethod ?? 'redact'),
    scanPassing: input.scanPassingColumns === true,
    hashKey: typeof input.hashKey === 'string' ? Buffer.from(input.hashKey, 'utf8') : input.hashKey,
    hits: {},
  };
}

/** Whether a statement needs the masker at all (else the gateway relays its results untouched). */
export function rulesActive(rules: MaskRules): boolean {
  return rules.sensitive || rules.columns.size > 0 || rules.classified.size > 0;
}

/** One result column as the planner sees it. */
export interface PlanField {
  name: string;
  /** Type OID (RowDescription dataTypeID); 0 when unknown. */
  typeOid: number;
  /** True when PostgreSQL reported no origin (tableID 0): an expression. */
  expression: boolean;
  /** The resolved origin, or null when it could not be resolved. Ignored for expressions. */
  resolved: ResolvedColumn | null;
}

export interface ColumnPlan {
  readonly index: number;
  readonly name: string;
  readonly typeOid: number;
  readonly typeClass: TypeClass;
  readonly action: ColumnAction;
  /** The method (meaningful for action 'mask'). */
  readonly method: MaskMethod;
  readonly reason: MaskReason | null;
  /** The "schema.table.column" that decided (or the column's own origin), null when unknown. */
  readonly origin: string | null;
  /** Run the detectors over the value: counts hits; for 'scan' also replaces the matches. */
  readonly detect: boolean;
  /** Precomputed replacement for text (0) and binary (1) format; undefined when it depends on the value. */
  readonly constant: readonly [Buffer | null | undefined, Buffer | null | undefined];
  /** Masked (non-NULL) values so far. */
  count: number;
}

/**
 * The plan of one result shape. `work` lists the columns that are rewritten or scanned; the
 * scratch arrays are reused by every row (the hot path allocates nothing for rows it leaves alone).
 */
export interface RowPlan {
  readonly columns: readonly ColumnPlan[];
  readonly work: Int32Array;
  readonly rules: MaskRules;
  /** scratch, one slot per work column */
  readonly starts: Int32Array;
  readonly lengths: Int32Array;
  readonly touched: Uint8Array;
  readonly replacements: (Buffer | null)[];
}

interface Decision {
  action: ColumnAction;
  method: MaskMethod;
  reason: MaskReason | null;
  origin: string | null;
}

function originLabel(r: ResolvedColumn): string | null {
  const s = r.sources[0];
  return s ? `${s.schema}.${s.table}.${s.column}` : r.column === null ? `${r.relation.schema}.${r.relation.table}.*` : null;
}

function decide(rules: MaskRules, f: PlanField): Decision {
  const unknown = (reason: MaskReason, origin: string | null): Decision =>
    rules.sensitive
      ? { action: 'mask', method: rules.defaultMethod, reason, origin }
      : { action: 'pass', method: rules.defaultMethod, reason: null, origin };
  if (f.expression) return unknown('unknown-origin', null);
  const r = f.resolved;
  if (!r) {
    // The catalog did not say where it comes from: with a classification configured it may be a
    // view over classified columns, so it is masked then too.
    if (rules.classified.size > 0 && !rules.sensitive) return { action: 'mask', method: rules.defaultMethod, reason: 'unresolved', origin: null };
    return unknown('unresolved', null);
  }

  // Named sources: the decision first, then the classification.
  let method: MaskMethod | null = null;
  let origin: string | null = null;
  for (const s of r.sources) {
    const k = columnKey(s.schema, s.table, s.column);
    const m = rules.columns.get(k);
    if (m) {
      if (!method) origin = `${s.schema}.${s.table}.${s.column}`;
      method = method ? stricter(method, m) : m;
    }
  }
  if (method) return { action: 'mask', method, reason: r.viaView ? 'view' : 'column', origin };
  // The classification stands in for the policy only where the policy did not see the table
  // (through a view, FETCH from a cursor): where it saw it, its decision and clearances stand.
  for (const s of r.sources) {
    if (rules.seen.has(tableKey(s.schema, s.table)) || rules.seen.has(`*.${lower(s.table)}`)) continue;
    const m = rules.classified.get(columnKey(s.schema, s.table, s.column));
    if (m) {
      if (!method) origin = `${s.schema}.${s.table}.${s.column}`;
      method = method ? stricter(method, m) : m;
    }
  }
  if (method) return { action: 'mask', method, reason: 'classified', origin };

  const label = originLabel(r);
  const touchesMasked = r.tables.some((t) => rules.tables.has(tableKey(t.schema, t.table)));
  if (r.wholeRow) {
    if (touchesMasked) return { action: 'mask', method: rules.defaultMethod, reason: 'whole-row', origin: label };
    if (!r.exact) return unknown('unknown-origin', label);
  } else if (!r.exact) {
    // a view column computed from something: its base is unknown, only the tables it reads are
    if (touchesMasked) return { action: 'mask', method: rules.defaultMethod, reason: 'unknown-origin', origin: label };
    return unknown('unknown-origin', label);
  }
  return { action: 'pass', method: rules.defaultMethod, reason: null, origin: label };
}

export function buildRowPlan(rules: MaskRules, fields: readonly PlanField[]): RowPlan {
  const columns: ColumnPlan[] = [];
  const work: number[] = [];
  fields.forEach((f, index) => {
    const d = decide(rules, f);
    const cls = typeClass(f.typeOid);
    const textual = cls !== 'other';
    let action = d.action;
    if (action === 'pass' && rules.scanPassing && rules.sensitive && !rules.detectors.empty && textual) action = 'scan';
    const detect =
      !rules.detectors.empty &&
      textual &&
      (action === 'scan' || (action === 'mask' && d.reason !== 'column' && d.reason !== 'view' && d.reason !== 'classified'));
    const constant: [Buffer | null | undefined, Buffer | null | undefined] =
      action === 'mask' ? [constantReplacement(d.method, cls, 0), constantReplacement(d.method, cls, 1)] : [undefined, undefined];
    columns.push({
      index,
      name: f.name,
      typeOid: f.typeOid,
      typeClass: cls,
      action,
      method: d.method,
      reason: action === 'pass' ? null : d.reason,
      origin: d.origin,
      detect,
      constant,
      count: 0,
    });
    if (action !== 'pass') work.push(index);
  });
  const n = work.length;
  return {
    columns,
    work: Int32Array.from(work),
    rules,
    starts: new Int32Array(n),
    lengths: new Int32Array(n),
    touched: new Uint8Array(n),
    replacements: new Array<Buffer | null>(n).fill(null),
  };
}

/** Plan for rows that arrive without a RowDescription: every column of unknown origin and type. */
export function blindRowPlan(rules: MaskRules, columnCount: number): RowPlan {
  const fields: PlanField[] = Array.from({ length: columnCount }, (_, i) => ({
    name: `column${i + 1}`,
    typeOid: 0,
    expression: false, // unresolved: masked when sensitive or when a classification is configured
    resolved: null,
  }));
  const plan = buildRowPlan(rules, fields);
  for (const c of plan.columns) if (c.action === 'mask') (c as { reason: MaskReason | null }).reason = 'no-description';
  return plan;
}

export interface MaskCount {
  /** "schema.table.column" of the masked origin, or the result column's name when its origin is unknown. */
  column: string;
  method: MaskMethod;
  reason: MaskReason;
  count: number;
}

/** Masked-value counts of several plans, merged by column, method and reason. */
export function mergeCounts(plans: readonly RowPlan[]): MaskCount[] {
  const out = new Map<string, MaskCount>();
  for (const p of plans) {
    for (const c of p.columns) {
      if (c.action !== 'mask') continue;
      const column = c.origin ?? c.name;
      const reason = c.reason ?? 'unknown-origin';
      const k = `${column}\u0000${c.method}\u0000${reason}`;
      const e = out.get(k);
      if (e) e.count += c.count;
      else out.set(k, { column, method: c.method, reason, count: c.count });
    }
  }
  return [...out.values()];
}
