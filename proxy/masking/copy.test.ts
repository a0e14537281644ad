import { describe, expect, it } from 'vitest';
import type { ResolvedColumn } from './catalog.js';
import { binaryCopyRefusal, maskCopyTextRow } from './copy.js';
import { REDACTED } from './methods.js';
import { buildRowPlan, maskRules, type PlanField } from './plan.js';

const origin = (column: string): ResolvedColumn => ({
  relation: { schema: 'app', table: 'customers', relkind: 'r' },
  column,
  sources: [{ schema: 'app', table: 'customers', column }],
  wholeRow: false,
  exact: true,
  tables: [{ schema: 'app', table: 'customers' }],
  viaView: false,
});
const rules = () =>
  maskRules({
    decision: {
      mask: [
        { column: 'app.customers.email', method: 'email' },
        { column: 'app.customers.ssn', method: 'partial' },
        { column: 'app.customers.age', method: 'redact' },
      ],
      detectors: ['email', 'ssn'],
      tags: ['sensitive'],
    },
    hashKey: 'k',
  });
const tablePlan = () =>
  buildRowPlan(
    rules(),
    (['id', 'name', 'email', 'ssn', 'age'] as const).map((n, i): PlanField => ({ name: n, typeOid: [23, 25, 25, 25, 23][i]!, expression: false, resolved: origin(n) })),
  );
const b = (s: string) => Buffer.from(s, 'utf8');

describe('maskCopyTextRow, text format', () => {
  it('masks known columns by position, keeps the others and the newline', () => {
    const out = maskCopyTextRow(b('1\tAnn\tann@acme.com\t123-45-6789\t30\n'), tablePlan(), 'text');
    expect(out.toString()).toBe('1\tAnn\t***@acme.com\t*******6789\t\\N\n'); // int: NULL
  });

  it('keeps NULLs, unescapes before masking and escapes after', () => {
    const out = maskCopyTextRow(b('1\tA\\tB\t\\N\tab\\\\cd\\t123-45-6789\t\\N\n'), tablePlan(), 'text');
    expect(out.toString()).toBe('1\tA\\tB\t\\N\t*************6789\t\\N\n');
  });

  it('returns the same Buffer when nothing is masked', () => {
    const row = b('1\tAnn\t\\N\t\\N\t\\N\n');
    expect(maskCopyTextRow(row, tablePlan(), 'text')).toBe(row);
  });

  it('custom delimiters', () => {
    const out = maskCopyTextRow(b('1|A\\|nn|ann@acme.com|123-45-6789|3\n'), tablePlan(), 'text', '|');
    expect(out.toString()).toBe('1|A\\|nn|***@acme.com|*******6789|\\N\n');
  });

  it('a row that does not split into the expected fields is replaced whole', () => {
    const out = maskCopyTextRow(b('1,Ann,ann@acme.com,123-45-6789,30\n'), tablePlan(), 'text');
    expect(out.toString()).toBe(Array(5).fill(REDACTED).join('\t') + '\n');
  });
});

describe('maskCopyTextRow, csv format', () => {
  it('parses quoted fields and quotes masked output', () => {
    const out = maskCopyTextRow(b('1,"Lee, Ann","ann@acme.com",123-45-6789,30\n'), tablePlan(), 'csv');
    expect(out.toString()).toBe('1,"Lee, Ann","***@acme.com","*******6789",\n');
  });

  it('embedded newlines and doubled quotes inside quoted fields', () => {
    const out = maskCopyTextRow(b('1,"A ""quoted""\nname",x@y.org,,\n'), tablePlan(), 'csv');
    expect(out.toString()).toBe('1,"A ""quoted""\nname","***@y.org",,\n');
  });

  it('quoted empty string is a value, unquoted empty is NULL', () => {
    const out = maskCopyTextRow(b('1,Ann,"",,\n'), tablePlan(), 'csv');
    expect(out.toString()).toBe(`1,Ann,"${REDACTED}",,\n`);
  });
});

describe('COPY (query) TO: every field of unknown origin', () => {
  it('masks and scans every field of a sensitive statement', () => {
    const r = rules();
    const plan = buildRowPlan(r, [0, 1].map((i): PlanField => ({ name: `c${i}`, typeOid: 25, expression: true, resolved: null })));
    const out = maskCopyTextRow(b('ann@acme.com\t123-45-6789\n'), plan, 'text');
    expect(out.toString()).toBe(`${REDACTED}\t${REDACTED}\n`);
    expect(r.hits).toEqual({ email: 1, ssn: 1 });
  });
});

describe('binary COPY', () => {
  it('is refused for sensitive statements only', () => {
    expect(binaryCopyRefusal('binary', true)).toMatch(/not allowed/);
    expect(binaryCopyRefusal('BINARY', true)).toMatch(/not allowed/);
    expect(binaryCopyRefusal('csv', true)).toBeNull();
    expect(binaryCopyRefusal('binary', false)).toBeNull();
  });
});
