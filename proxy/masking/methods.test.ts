import { describe, expect, it } from 'vitest';
import {
  REDACTED,
  constantReplacement,
  emailValue,
  encodeMasked,
  hashValue,
  maskText,
  maskWireValue,
  normalizeMethod,
  partialValue,
  stricter,
  typeClass,
} from './methods.js';

const key = Buffer.from('test-key');

describe('mask methods on text', () => {
  it('redact replaces the whole value', () => {
    expect(maskText('redact', '123-45-6789', key)).toBe(REDACTED);
    expect(maskText('redact', '', key)).toBe(REDACTED);
  });

  it('null is SQL NULL', () => {
    expect(maskText('null', 'x', key)).toBeNull();
  });

  it('hash is keyed, stable and prefixed', () => {
    const a = hashValue('ann@acme.com', key);
    expect(a).toMatch(/^h:[0-9a-f]{16}$/);
    expect(hashValue('ann@acme.com', key)).toBe(a);
    expect(hashValue('bob@acme.com', key)).not.toBe(a);
    expect(hashValue('ann@acme.com', Buffer.from('other-key'))).not.toBe(a);
  });

  it('hash without a key degrades to redact (an unkeyed hash is reversible by dictionary)', () => {
    expect(hashValue('x', Buffer.alloc(0))).toBe(REDACTED);
  });

  it('partial keeps the last 4 characters of values of 8 or more', () => {
    expect(partialValue('123-45-6789')).toBe('*******6789');
    expect(partialValue('4111 1111 1111 1111')).toBe('***************1111');
    expect(partialValue('12345678')).toBe('****5678');
    expect(partialValue('1234567')).toBe('*******');
    expect(partialValue('')).toBe('*');
    // code points, not UTF-16 units
    expect(partialValue('ééééé😀😀😀😀')).toBe('*****😀😀😀😀');
  });

  it('email keeps the domain; anything else is redacted', () => {
    expect(emailValue('ann@acme.com')).toBe('***@acme.com');
    expect(emailValue(' Ann.Lee+x@mail.acme.co.uk ')).toBe('***@mail.acme.co.uk');
    expect(emailValue('not an email')).toBe(REDACTED);
    expect(emailValue('a@b@c.com')).toBe(REDACTED);
    expect(emailValue('ann@localhost')).toBe(REDACTED);
  });

  it('unknown methods are redact; the stricter method wins', () => {
    expect(normalizeMethod('tokenize')).toBe('redact');
    expect(normalizeMethod(undefined)).toBe('redact');
    expect(normalizeMethod('email')).toBe('email');
    expect(stricter('partial', 'redact')).toBe('redact');
    expect(stricter('null', 'hash')).toBe('null');
    expect(stricter('email', 'partial')).toBe('email');
  });
});

describe('type classes and wire encoding', () => {
  it('classifies OIDs', () => {
    expect(typeClass(25)).toBe('string');
    expect(typeClass(1043)).toBe('string');
    expect(typeClass(1042)).toBe('string');
    expect(typeClass(19)).toBe('string');
    expect(typeClass(114)).toBe('json');
    expect(typeClass(3802)).toBe('jsonb');
    expect(typeClass(23)).toBe('other');
    expect(typeClass(18)).toBe('other'); // "char": one byte
    expect(typeClass(1009)).toBe('other'); // text[]
    expect(typeClass(16519)).toBe('custom'); // an enum
  });

  it('text format: strings get the method, json a JSON string, other types NULL', () => {
    expect(encodeMasked(REDACTED, 'string', 0)!.toString()).toBe(REDACTED);
    expect(encodeMasked(REDACTED, 'json', 0)!.toString()).toBe(`"${REDACTED}"`);
    expect(encodeMasked(REDACTED, 'jsonb', 0)!.toString()).toBe(`"${REDACTED}"`);
    expect(encodeMasked(REDACTED, 'custom', 0)!.toString()).toBe(REDACTED);
    expect(encodeMasked(REDACTED, 'other', 0)).toBeNull();
  });

  it('binary format: text-like raw UTF-8, jsonb with its version byte, everything else NULL', () => {
    expect(encodeMasked('x', 'string', 1)!.toString()).toBe('x');
    expect(encodeMasked('x', 'json', 1)!.toString()).toBe('"x"');
    const jb = encodeMasked('x', 'jsonb', 1)!;
    expect(jb[0]).toBe(1);
    expect(jb.subarray(1).toString()).toBe('"x"');
    expect(encodeMasked('x', 'custom', 1)).toBeNull();
    expect(encodeMasked('x', 'other', 1)).toBeNull();
  });

  it('masks wire values by method, type and format', () => {
    const v = Buffer.from('ann@acme.com');
    expect(maskWireValue('email', v, 0, v.length, 'string', 0, key)!.toString()).toBe('***@acme.com');
    expect(maskWireValue('email', v, 0, v.length, 'string', 1, key)!.toString()).toBe('***@acme.com');
    const j = Buffer.from('"ann@acme.com"');
    expect(maskWireValue('email', j, 0, j.length, 'json', 0, key)!.toString()).toBe('"***@acme.com"');
    const jb = Buffer.concat([Buffer.from([1]), j]);
    const out = maskWireValue('partial', jb, 0, jb.length, 'jsonb', 1, key)!;
    expect(out[0]).toBe(1);
    expect(JSON.parse(out.subarray(1).toString())).toBe('********.com');
    const n = Buffer.from('42');
    expect(maskWireValue('hash', n, 0, n.length, 'other', 0, key)).toBeNull();
  });

  it('constant replacements for redact and null', () => {
    expect(constantReplacement('redact', 'string', 1)!.toString()).toBe(REDACTED);
    expect(constantReplacement('null', 'string', 0)).toBeNull();
    expect(constantReplacement('hash', 'string', 0)).toBeUndefined();
    expect(constantReplacement('hash', 'other', 0)).toBeNull();
  });
});
