import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { classifiedColumns, type MaskingConfig } from './classification.js';

describe('classifiedColumns', () => {
  it('flattens the default policy data', () => {
    const data = parse(readFileSync(join(import.meta.dirname, '../../policies/data/auditgate_config/data.yaml'), 'utf8')) as { masking: MaskingConfig };
    const c = classifiedColumns(data.masking);
    expect(c.get('public.customers.ssn')).toBe('partial');
    expect(c.get('public.customers.email')).toBe('email');
    expect(c.get('public.users.password_hash')).toBe('redact');
    expect(c.get('billing.payment_methods.card_number')).toBe('partial');
  });

  it('column method, else class method, else default, else redact', () => {
    const c = classifiedColumns({
      default_method: 'null',
      classes: { a: { method: 'hash' }, b: {} },
      columns: { S: { T: { x: { class: 'a', method: 'email' }, y: { class: 'a' }, z: { class: 'b' }, w: { class: 'nope' } } } },
    });
    expect([...c.entries()]).toEqual([
      ['s.t.x', 'email'],
      ['s.t.y', 'hash'],
      ['s.t.z', 'null'],
      ['s.t.w', 'null'],
    ]);
    expect(classifiedColumns({ columns: { s: { t: { c: {} } } } }).get('s.t.c')).toBe('redact');
    expect(classifiedColumns(null).size).toBe(0);
  });
});
