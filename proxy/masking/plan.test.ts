import { describe, expect, it } from 'vitest';
import type { ResolvedColumn } from './catalog.js';
import { blindRowPlan, buildRowPlan, maskRules, rulesActive, type PlanField } from './plan.js';

const decision = {
  mask: [
    { column: 'public.customers.ssn', method: 'partial' },
    { column: 'public.customers.email', method: 'email' },
    { column: 'public.customers.card_number', method: 'tokenize' }, // unknown → redact
  ],
  detectors: ['email', 'ssn'],
  tags: ['sensitive'],
};

function col(schema: string, table: string, column: string | null, extra: Partial<ResolvedColumn> = {}): ResolvedColumn {
  return {
    relation: { schema, table, relkind: 'r' },
    column,
    sources: column ? [{ schema, table, column }] : [],
    wholeRow: column === null,
    exact: true,
    tables: [{ schema, table }],
    viaView: false,
    ...extra,
  };
}

const field = (name: string, resolved: ResolvedColumn | null, typeOid = 25, expression = false): PlanField => ({ name, typeOid, expression, resolved });

describe('buildRowPlan', () => {
  const rules = maskRules({ decision, hashKey: 'k' });

  it('masks columns by origin, whatever the alias', () => {
    const plan = buildRowPlan(rules, [
      field('x', col('public', 'customers', 'ssn')),
      field('id', col('public', 'customers', 'id'), 23),
      field('e', col('PUBLIC', 'Customers', 'EMAIL')), // catalog names compared case-insensitively
      field('card_number', col('public', 'customers', 'card_number')),
    ]);
    expect(plan.columns.map((c) => [c.action, c.method, c.reason, c.origin])).toEqual([
      ['mask', 'partial', 'column', 'public.customers.ssn'],
      ['pass', 'redact', null, 'public.customers.id'],
      ['mask', 'email', 'column', 'PUBLIC.Customers.EMAIL'],
      ['mask', 'redact', 'column', 'public.customers.card_number'],
    ]);
    expect([...plan.work]).toEqual([0, 2, 3]);
    expect(plan.columns[0]!.detect).toBe(false); // known origin: no need to scan
  });

  it('fails closed on unknown origin in a sensitive statement, and scans those values', () => {
    const plan = buildRowPlan(rules, [field('upper', null, 25, true), field('count', null, 20, true), field('x', null)]);
    expect(plan.columns.map((c) => [c.action, c.method, c.reason, c.detect])).toEqual([
      ['mask', 'redact', 'unknown-origin', true],
      ['mask', 'redact', 'unknown-origin', false], // int8: no text to scan, masked to NULL
      ['mask', 'redact', 'unresolved', true],
    ]);
  });

  it('passes unknown origins when the statement is not sensitive', () => {
    const r = maskRules({ decision: { mask: [], detectors: [], tags: [] }, hashKey: 'k' });
    expect(rulesActive(r)).toBe(false);
    const plan = buildRowPlan(r, [field('upper', null, 25, true), field('ssn', col('public', 'customers', 'ssn'))]);
    expect(plan.work.length).toBe(0);
  });

  it('touchedSensitive alone makes unknown origins masked, with the configured default method', () => {
    const r = maskRules({ decision: { mask: [], detectors: [], tags: [] }, touchedSensitive: true, defaultMethod: 'null', hashKey: 'k' });
    const plan = buildRowPlan(r, [field('f', null, 25, true)]);
    expect(plan.columns[0]).toMatchObject({ action: 'mask', method: 'null', reason: 'unknown-origin', detect: false });
  });

  it('view columns take their base column method; computed view columns are unknown origin', () => {
    const viaView = col('public', 'v', 's', {
      relation: { schema: 'public', table: 'v', relkind: 'v' },
      sources: [
        { schema: 'public', table: 'v', column: 's' },
        { schema: 'public', table: 'customers', column: 'ssn' },
      ],
      tables: [{ schema: 'public', table: 'v' }, { schema: 'public', table: 'customers' }],
      viaView: true,
    });
    const computed = col('public', 'v', 'ue', {
      relation: { schema: 'public', table: 'v', relkind: 'v' },
      sources: [{ schema: 'public', table: 'v', column: 'ue' }],
      tables: [{ schema: 'public', table: 'v' }, { schema: 'public', table: 'customers' }],
      exact: false,
      viaView: true,
    });
    // Even a decision that saw only the view (not sensitive) masks through the classification.
    const r = maskRules({
      decision: { mask: [], detectors: [], tags: [] },
      classified: { 'public.customers.ssn': 'partial', 'public.customers.email': 'email' },
      hashKey: 'k',
    });
    const plan = buildRowPlan(r, [field('s', viaView), field('ue', computed)]);
    expect(plan.columns.map((c) => [c.action, c.method, c.reason])).toEqual([
      ['mask', 'partial', 'classified'],
      ['mask', 'redact', 'unknown-origin'],
    ]);
    const withDecision = buildRowPlan(rules, [field('s', viaView)]);
    expect(withDecision.columns[0]).toMatchObject({ action: 'mask', method: 'partial', reason: 'view', origin: 'public.customers.ssn' });
  });

  it('masks whole-row references of tables with masked columns', () => {
    const plan = buildRowPlan(rules, [field('c', col('public', 'customers', null), 16486), field('o', col('public', 'orders', null), 16500)]);
    expect(plan.columns.map((c) => [c.action, c.reason])).toEqual([
      ['mask', 'whole-row'],
      ['pass', null],
    ]);
  });

  it('partitions and inheritance children answer to their ancestors', () => {
    const part = col('public', 'customers_2024', 'ssn', {
      sources: [
        { schema: 'public', table: 'customers_2024', column: 'ssn' },
        { schema: 'public', table: 'customers', column: 'ssn' },
      ],
    });
    expect(buildRowPlan(rules, [field('ssn', part)]).columns[0]).toMatchObject({ action: 'mask', method: 'partial' });
  });

  it('the strictest method wins when several rules name a column', () => {
    const r = maskRules({
      decision: { mask: [{ column: 'public.t.c', method: 'partial' }, { column: 'public.t.c', method: 'hash' }], detectors: [], tags: [] },
      hashKey: 'k',
    });
    expect(buildRowPlan(r, [field('c', col('public', 't', 'c'))]).columns[0]!.method).toBe('hash');
  });

  it('scanPassingColumns scans passing text columns of a sensitive statement', () => {
    const r = maskRules({ decision, scanPassingColumns: true, hashKey: 'k' });
    const plan = buildRowPlan(r, [field('notes', col('public', 'customers', 'notes')), field('id', col('public', 'customers', 'id'), 23)]);
    expect(plan.columns.map((c) => [c.action, c.detect])).toEqual([
      ['scan', true],
      ['pass', false],
    ]);
  });

  it('a blind plan (no RowDescription) masks everything when sensitive', () => {
    const plan = blindRowPlan(rules, 3);
    expect(plan.columns.every((c) => c.action === 'mask' && c.reason === 'no-description')).toBe(true);
  });
});
