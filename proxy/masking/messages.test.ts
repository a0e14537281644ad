import { describe, expect, it } from 'vitest';
import { maskErrorOrNotice } from './messages.js';
import { REDACTED } from './methods.js';
import { maskRules } from './plan.js';
import { errorFields, errorResponse } from './test-support.js';

const sensitive = () =>
  maskRules({
    decision: { mask: [{ column: 'app.customers.ssn', method: 'partial' }], detectors: ['email', 'ssn', 'card_number'], tags: ['sensitive'] },
    hashKey: 'k',
  });
const quiet = (classified: Record<string, string> = {}) => maskRules({ decision: { mask: [], detectors: [], tags: [] }, classified, hashKey: 'k' });

describe('maskErrorOrNotice', () => {
  it('redacts the value of a unique violation and keeps the codes', () => {
    const msg = errorResponse({
      S: 'ERROR',
      V: 'ERROR',
      C: '23505',
      M: 'duplicate key value violates unique constraint "customers_ssn_key"',
      D: 'Key (ssn)=(123-45-6789) already exists.',
      s: 'app',
      t: 'customers',
      n: 'customers_ssn_key',
    });
    const out = maskErrorOrNotice(msg, sensitive());
    const f = errorFields(out);
    expect(f.D).toBe(`Key (ssn)=(${REDACTED}) already exists.`);
    expect(f).toMatchObject({ S: 'ERROR', V: 'ERROR', C: '23505', s: 'app', t: 'customers', n: 'customers_ssn_key' });
    expect(out.toString('latin1')).not.toContain('6789');
    expect(out.readInt32BE(1)).toBe(out.length - 1);
  });

  it('redacts a Key value of a classified column even when the statement is not sensitive', () => {
    const msg = errorResponse({ C: '23505', M: 'duplicate key', D: 'Key (ssn)=(078-05-1120) already exists.', s: 'app', t: 'customers' });
    expect(errorFields(maskErrorOrNotice(msg, quiet({ 'app.customers.ssn': 'redact' }))).D).toBe(`Key (ssn)=(${REDACTED}) already exists.`);
    // a column nobody classified, in a statement that is not sensitive: left alone
    const fk = errorResponse({ C: '23503', M: 'fk', D: 'Key (customer_id)=(42) is not present in table "customers".', s: 'app', t: 'orders' });
    expect(maskErrorOrNotice(fk, quiet({ 'app.customers.ssn': 'redact' }))).toBe(fk);
  });

  it('handles multi-column, expression and exclusion keys', () => {
    const r = sensitive();
    const multi = errorResponse({ C: '23505', D: 'Key (a, b)=(x, secret value) already exists.' });
    expect(errorFields(maskErrorOrNotice(multi, r)).D).toBe(`Key (a, b)=(${REDACTED}) already exists.`);
    const expr = errorResponse({ C: '23505', D: 'Key (lower(email))=(ann@acme.com) already exists.' });
    expect(errorFields(maskErrorOrNotice(expr, r)).D).toBe(`Key (lower(email))=(${REDACTED}) already exists.`);
    const excl = errorResponse({ C: '23P01', D: 'Key (c)=(v1) conflicts with existing key (c)=(v2).' });
    expect(errorFields(maskErrorOrNotice(excl, r)).D).toBe(`Key (c)=(${REDACTED}).`);
    const part = errorResponse({ C: '23514', D: 'Partition key of the failing row contains (id) = (1000).' });
    expect(errorFields(maskErrorOrNotice(part, r)).D).toBe(`Partition key of the failing row contains (id) = (${REDACTED}).`);
  });

  it('redacts failing rows of check and not-null violations', () => {
    const msg = errorResponse({
      C: '23502',
      M: 'null value in column "age" of relation "customers" violates not-null constraint',
      D: 'Failing row contains (1, Ann, ann@acme.com, 123-45-6789, null).',
      s: 'app',
      t: 'customers',
    });
    expect(errorFields(maskErrorOrNotice(msg, quiet({ 'app.customers.ssn': 'redact' }))).D).toBe(`Failing row contains (${REDACTED}).`);
  });

  it('redacts quoted values of data exceptions and data context lines in sensitive statements', () => {
    const r = sensitive();
    const cast = errorResponse({ C: '22P02', M: 'invalid input syntax for type integer: "Ann Lee"' });
    expect(errorFields(maskErrorOrNotice(cast, r)).M).toBe(`invalid input syntax for type integer: "${REDACTED}"`);
    const json = errorResponse({ C: '22P02', M: 'invalid input syntax for type json', D: 'Token "Ann" is invalid.', W: 'JSON data, line 1: Ann Lee...' });
    const f = errorFields(maskErrorOrNotice(json, r));
    expect(f.D).toBe(`Token "${REDACTED}" is invalid.`);
    expect(f.W).toBe(`JSON data, line 1: ${REDACTED}`);
    const copy = errorResponse({ C: '22001', M: 'value too long for type character varying(3)', W: 'COPY customers, line 2, column name: "Ann Lee"' });
    expect(errorFields(maskErrorOrNotice(copy, r)).W).toBe(`COPY customers, line 2, column name: ${REDACTED}`);
  });

  it('removes a redacted value wherever else it appears', () => {
    const msg = errorResponse({ C: '23505', M: 'duplicate key', D: 'Key (name)=(Zanzibar Smith) already exists.', W: 'SQL statement "insert ... \'Zanzibar Smith\'"' });
    const f = errorFields(maskErrorOrNotice(msg, sensitive()));
    expect(JSON.stringify(f)).not.toContain('Zanzibar');
  });

  it('runs the detectors over notices and leaves other errors alone', () => {
    const n = errorResponse({ S: 'NOTICE', C: '00000', M: 'customer ann@acme.com has card 4111 1111 1111 1111' }, 'N');
    const out = maskErrorOrNotice(n, sensitive());
    expect(out[0]).toBe(0x4e);
    expect(errorFields(out).M).toBe('customer [redacted:email] has card [redacted:card_number]');
    const plain = errorResponse({ C: '42P01', M: 'relation "nope" does not exist', P: '15' });
    expect(maskErrorOrNotice(plain, sensitive())).toBe(plain);
    expect(maskErrorOrNotice(plain, quiet())).toBe(plain);
  });
});
