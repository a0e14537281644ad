import { describe, expect, it } from 'vitest';
import type { ResolvedColumn } from './catalog.js';
import { maskDataRow, MaskingError } from './datarow.js';
import { REDACTED } from './methods.js';
import { buildRowPlan, maskRules, mergeCounts, type PlanField } from './plan.js';
import { dataRow, readDataRow } from './test-support.js';

const origin = (column: string): ResolvedColumn => ({
  relation: { schema: 'public', table: 'customers', relkind: 'r' },
  column,
  sources: [{ schema: 'public', table: 'customers', column }],
  wholeRow: false,
  exact: true,
  tables: [{ schema: 'public', table: 'customers' }],
  viaView: false,
});
const f = (name: string, typeOid: number, resolved: ResolvedColumn | null = origin(name), expression = false): PlanField => ({
  name,
  typeOid,
  expression,
  resolved,
});

const rules = () =>
  maskRules({
    decision: {
      mask: [
        { column: 'public.customers.ssn', method: 'partial' },
        { column: 'public.customers.email', method: 'email' },
        { column: 'public.customers.card_number', method: 'redact' },
        { column: 'public.customers.age', method: 'redact' },
        { column: 'public.customers.info', method: 'hash' },
        { column: 'public.customers.token', method: 'null' },
      ],
      detectors: ['email', 'ssn'],
      tags: ['sensitive'],
    },
    hashKey: 'key',
  });

const plan = () =>
  buildRowPlan(rules(), [
    f('id', 23),
    f('ssn', 25),
    f('email', 1043),
    f('card_number', 1042),
    f('age', 23),
    f('info', 3802),
    f('token', 25),
    f('expr', 25, null, true),
  ]);

const str = (b: Buffer | null | undefined) => (b == null ? null : b.toString('utf8'));

describe('maskDataRow, text format', () => {
  it('rewrites masked columns only', () => {
    const p = plan();
    const row = dataRow(['1', '123-45-6789', 'ann@acme.com', '4111 1111 1111 1111', '30', '{"a": 1}', 'tok', 'ANN@ACME.COM']);
    const out = maskDataRow(row, p, new Array(8).fill(0));
    const vals = readDataRow(out).map(str);
    expect(vals[0]).toBe('1');
    expect(vals[1]).toBe('*******6789');
    expect(vals[2]).toBe('***@acme.com');
    expect(vals[3]).toBe(REDACTED);
    expect(vals[4]).toBeNull(); // int: NULL, not a string a typed decoder would choke on
    expect(JSON.parse(vals[5]!)).toMatch(/^h:[0-9a-f]{16}$/); // jsonb stays valid JSON
    expect(vals[6]).toBeNull();
    expect(vals[7]).toBe(REDACTED); // unknown origin
    expect(out.toString('latin1')).not.toContain('123-45-6789');
    expect(p.rules.hits).toEqual({ email: 1 }); // the unknown-origin value was scanned
  });

  it('keeps NULLs NULL and does not count them; returns the same Buffer when nothing changes', () => {
    const p = plan();
    const row = dataRow(['1', null, null, null, null, null, null, null]);
    expect(maskDataRow(row, p, [])).toBe(row);
    expect(p.columns.reduce((n, c) => n + c.count, 0)).toBe(0);
  });

  it('returns the message itself when the plan masks nothing', () => {
    const p = buildRowPlan(maskRules({ decision: { mask: [], detectors: [], tags: [] }, hashKey: 'k' }), [f('a', 25), f('b', 25)]);
    const row = dataRow(['x', 'y']);
    expect(maskDataRow(row, p, [0, 0])).toBe(row);
  });

  it('handles empty strings and values around masked ones', () => {
    const p = plan();
    const row = dataRow(['', '', '', '', '', '', '', '']);
    const vals = readDataRow(maskDataRow(row, p, [])).map(str);
    expect(vals).toEqual(['', '*', REDACTED, REDACTED, null, vals[5], null, REDACTED]);
  });

  it('counts masked values per column for the record', () => {
    const p = plan();
    for (let i = 0; i < 3; i++) maskDataRow(dataRow(['1', '123-45-6789', null, 'x', '1', null, null, null]), p, []);
    const counts = mergeCounts([p]);
    expect(counts.find((c) => c.column === 'public.customers.ssn')).toEqual({ column: 'public.customers.ssn', method: 'partial', reason: 'column', count: 3 });
    expect(counts.find((c) => c.column === 'public.customers.email')!.count).toBe(0);
    expect(counts.find((c) => c.column === 'expr')).toMatchObject({ reason: 'unknown-origin', count: 0 });
  });

  it('refuses malformed rows and rows that do not match the plan', () => {
    const p = plan();
    expect(() => maskDataRow(dataRow(['1', '2']), p, [])).toThrow(MaskingError);
    const row = dataRow(['1', '123-45-6789', 'a', 'b', 'c', 'd', 'e', 'f']);
    expect(() => maskDataRow(row.subarray(0, 20), p, [])).toThrow(MaskingError);
  });
});

describe('maskDataRow, binary format', () => {
  it('text-like types get the method on their UTF-8 bytes; other types become NULL', () => {
    const p = plan();
    const int4 = Buffer.alloc(4);
    int4.writeInt32BE(30);
    const jsonb = Buffer.concat([Buffer.from([1]), Buffer.from('{"a": 1}')]);
    const row = dataRow([int4, '123-45-6789', 'ann@acme.com', '4111 1111 1111 1111', int4, jsonb, 'tok', 'x']);
    const vals = readDataRow(maskDataRow(row, p, new Array(8).fill(1)));
    expect(vals[0]!.readInt32BE(0)).toBe(30);
    expect(str(vals[1])).toBe('*******6789');
    expect(str(vals[2])).toBe('***@acme.com');
    expect(str(vals[3])).toBe(REDACTED);
    expect(vals[4]).toBeNull();
    expect(vals[5]![0]).toBe(1); // jsonb version byte kept
    expect(JSON.parse(vals[5]!.subarray(1).toString())).toMatch(/^h:/);
    expect(vals[6]).toBeNull();
    expect(str(vals[7])).toBe(REDACTED);
  });

  it('mixed formats per column', () => {
    const p = plan();
    const row = dataRow(['1', '123-45-6789', 'ann@acme.com', 'c', '30', null, null, null]);
    const vals = readDataRow(maskDataRow(row, p, [0, 1, 0, 1, 0, 1, 0, 1])).map(str);
    expect(vals.slice(0, 5)).toEqual(['1', '*******6789', '***@acme.com', REDACTED, null]);
  });
});
