// Mask methods: what a masked value becomes, in text and binary result formats, by type.
// docs/masking.md "Methods" is the reference for the per-type table below.
import { createHmac } from 'node:crypto';

export type MaskMethod = 'redact' | 'null' | 'hash' | 'partial' | 'email';

export const MASK_METHODS: readonly MaskMethod[] = ['redact', 'null', 'hash', 'partial', 'email'];

/** The fixed placeholder of `redact` (and of every method that cannot apply to a value). */
export const REDACTED = '***REDACTED***';

/** Methods the policy names that we do not implement are treated as `redact` (docs/policy-default.md). */
export function normalizeMethod(method: string | null | undefined): MaskMethod {
  return (MASK_METHODS as readonly string[]).includes(method ?? '') ? (method as MaskMethod) : 'redact';
}

/** How much a method reveals: when several rules name a column, the most restrictive wins. */
const STRICTNESS: Record<MaskMethod, number> = { partial: 0, email: 1, hash: 2, redact: 3, null: 4 };

export function stricter(a: MaskMethod, b: MaskMethod): MaskMethod {
  return STRICTNESS[b] > STRICTNESS[a] ? b : a;
}

/** `hash`: keyed HMAC-SHA256, first 16 hex digits (64 bits), prefixed `h:`. Equal values stay equal. */
export function hashValue(value: string, key: Buffer): string {
  if (key.length === 0) return REDACTED; // no key configured: an unkeyed hash would be reversible by dictionary
  return `h:${createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, 16)}`;
}

/** `partial`: the last 4 characters kept when the value has at least 8 (so at least half is hidden). */
const ASCII = /^[\x00-\x7f]*$/;

export function partialValue(value: string): string {
  if (ASCII.test(value)) {
    if (value.length < 8) return '*'.repeat(Math.max(value.length, 1));
    return '*'.repeat(value.length - 4) + value.slice(-4);
  }
  const chars = Array.from(value); // code points: never split a surrogate pair
  if (chars.length < 8) return '*'.repeat(Math.max(chars.length, 1));
  return '*'.repeat(chars.length - 4) + chars.slice(-4).join('');
}

const EMAIL = /^[^@\s]+@([^@\s]+\.[^@\s]+)$/;

/** `email`: only the domain kept ("***@acme.com"); a value that is not one address is redacted. */
export function emailValue(value: string): string {
  const m = EMAIL.exec(value.trim());
  return m ? `***@${m[1]}` : REDACTED;
}

/** A method applied to a text value; null means SQL NULL. */
export function maskText(method: MaskMethod, value: string, key: Buffer): string | null {
  switch (method) {
    case 'null':
      return null;
    case 'hash':
      return hashValue(value, key);
    case 'partial':
      return partialValue(value);
    case 'email':
      return emailValue(value);
    default:
      return REDACTED;
  }
}

/**
 * How a masked value of a column type is written back.
 * - `string`: text-like types whose text and binary representations are both the UTF-8 text
 *   (text, varchar, bpchar, name, unknown): the method applies.
 * - `json`: json (binary = the text) and `jsonb` (binary = version byte 1 + the text): the method's
 *   text becomes a JSON string literal, so the client's JSON parser still succeeds.
 * - `custom`: a type with a user-assigned OID (enums, citext, ...: RowDescription reports a domain's
 *   base type, so these are not domains). Text format: the method applies (drivers read unknown
 *   types as strings). Binary format: NULL, because we cannot know the binary layout.
 * - `other`: every other built-in type (numbers, bool, dates, uuid, bytea, arrays, records, xml,
 *   "char", ...): NULL in both formats. A placeholder string would break typed decoders
 *   (JSON/array parsers, JDBC getInt, binary receivers), NULL never does.
 */
export type TypeClass = 'string' | 'json' | 'jsonb' | 'custom' | 'other';

export const TYPE_OIDS = {
  name: 19,
  text: 25,
  json: 114,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  jsonb: 3802,
} as const;

/** First OID PostgreSQL assigns to user-defined objects (FirstNormalObjectId). */
const FIRST_USER_OID = 16384;

export function typeClass(oid: number): TypeClass {
  switch (oid) {
    case TYPE_OIDS.text:
    case TYPE_OIDS.varchar:
    case TYPE_OIDS.bpchar:
    case TYPE_OIDS.name:
    case TYPE_OIDS.unknown:
      return 'string';
    case TYPE_OIDS.json:
      return 'json';
    case TYPE_OIDS.jsonb:
      return 'jsonb';
    default:
      return oid >= FIRST_USER_OID ? 'custom' : 'other';
  }
}

/** Whether values of this type/format are text we can decode (for methods and detectors). */
export function isTextual(cls: TypeClass, format: number): boolean {
  if (format === 0) return cls !== 'other';
  return cls === 'string' || cls === 'json' || cls === 'jsonb';
}

const JSONB_VERSION = Buffer.from([1]);

/**
 * Encodes a method's text output as the wire value of a column of class `cls` in `format`
 * (0 text, 1 binary). Returns null for SQL NULL.
 */
export function encodeMasked(text: string | null, cls: TypeClass, format: number): Buffer | null {
  if (text === null) return null;
  if (format === 0) {
    if (cls === 'other') return null;
    if (cls === 'json' || cls === 'jsonb') return Buffer.from(JSON.stringify(text), 'utf8');
    return Buffer.from(text, 'utf8');
  }
  switch (cls) {
    case 'string':
      return Buffer.from(text, 'utf8');
    case 'json':
      return Buffer.from(JSON.stringify(text), 'utf8');
    case 'jsonb':
      return Buffer.concat([JSONB_VERSION, Buffer.from(JSON.stringify(text), 'utf8')]);
    default:
      return null;
  }
}

/** Decodes a wire value of a textual class to the string a method works on. */
export function decodeValue(buf: Buffer, start: number, end: number, cls: TypeClass, format: number): string {
  if (format === 1 && cls === 'jsonb' && end > start) start += 1; // version byte
  const raw = buf.toString('utf8', start, end);
  if (cls === 'json' || cls === 'jsonb') {
    // A JSON string value masks as its content ("a@b.com" → email method sees a@b.com).
    if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
      try {
        const v: unknown = JSON.parse(raw);
        if (typeof v === 'string') return v;
      } catch {
        /* not a plain string: use the text */
      }
    }
  }
  return raw;
}

/**
 * Masks one wire value. `key` is the hash key. Returns the replacement bytes, or null for SQL NULL.
 * Methods whose output does not depend on the value (redact, null) are answered from a cache by
 * the caller (see `constantReplacement`), so this runs only for hash/partial/email.
 */
export function maskWireValue(
  method: MaskMethod,
  buf: Buffer,
  start: number,
  end: number,
  cls: TypeClass,
  format: number,
  key: Buffer,
): Buffer | null {
  if (method === 'null' || !isTextual(cls, format)) return null;
  const value = decodeValue(buf, start, end, cls, format);
  return encodeMasked(maskText(method, value, key), cls, format);
}

/** For redact and null: the replacement is the same for every value of a class/format. */
export function constantReplacement(method: MaskMethod, cls: TypeClass, format: number): Buffer | null | undefined {
  if (method === 'null') return null;
  if (method === 'redact') return encodeMasked(REDACTED, cls, format);
  if (!isTextual(cls, format)) return null;
  return undefined; // depends on the value
}
