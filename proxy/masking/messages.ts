// ErrorResponse ('E') and NoticeResponse ('N'): values leak through error text ("Key (ssn)=(...)
// already exists", "Failing row contains (...)", "invalid input syntax for type integer: "..."",
// COPY and JSON context lines). Text fields are cleaned; codes, severity, positions, schema/table/
// column/constraint names, file/line/routine are kept as they are.
import { REDACTED } from './methods.js';
import type { MaskRules } from './plan.js';

/** Fields whose text can carry values: message, detail, hint, context (where), internal query. */
const TEXT_FIELDS = new Set(['M', 'D', 'H', 'W', 'q']);

const TYPE_E = 0x45;
const TYPE_N = 0x4e;

interface Field {
  code: number;
  text: string;
}

function readFields(message: Buffer): Field[] | null {
  const out: Field[] = [];
  let off = 5;
  while (off < message.length && message[off] !== 0) {
    const end = message.indexOf(0, off + 1);
    if (end < 0) return null;
    out.push({ code: message[off]!, text: message.toString('utf8', off + 1, end) });
    off = end + 1;
  }
  return out;
}

function writeFields(type: number, fields: Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) parts.push(Buffer.from([f.code]), Buffer.from(f.text.replaceAll('\0', ''), 'utf8'), Buffer.from([0]));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** Values of "Key (cols)=(values)" / "Partition key ... (cols) = (values)": from after the "=(" to the last ")". */
const KEY_TUPLE = /\)\s?=\s?\(/;
const FAILING_ROW = /(Failing row contains \()/;

interface Extracted {
  text: string;
  /** Literal values removed, to be removed from the other fields too. */
  values: string[];
  /** Column names of a Key (...) tuple, when there is one. */
  keyColumns: string[] | null;
}

/** Replaces the value tuple after `re` (up to the last ')' of the text) by the placeholder. */
function redactTuple(text: string, re: RegExp, values: string[]): string {
  const m = re.exec(text);
  if (!m) return text;
  const from = m.index + m[0].length;
  const to = text.lastIndexOf(')');
  if (to < from) {
    values.push(text.slice(from));
    return `${text.slice(0, from)}${REDACTED}`;
  }
  values.push(text.slice(from, to));
  return `${text.slice(0, from)}${REDACTED}${text.slice(to)}`;
}

/** The column list of "Key (a, b)=(...)" (expression index keys come back as their text). */
function keyColumns(detail: string): string[] | null {
  const m = /Key \((.*?)\)\s?=\s?\(/.exec(detail) ?? /contains \((.*?)\)\s?=\s?\(/.exec(detail);
  return m ? m[1]!.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1')) : null;
}

function extractDetail(detail: string, redactKey: (cols: string[] | null) => boolean, redactRow: boolean): Extracted {
  const values: string[] = [];
  let text = detail;
  const cols = keyColumns(detail);
  if (KEY_TUPLE.test(text) && redactKey(cols)) text = redactTuple(text, KEY_TUPLE, values);
  if (redactRow && FAILING_ROW.test(text)) text = redactTuple(text, FAILING_ROW, values);
  return { text, values, keyColumns: cols };
}

/**
 * Class 22 (data exception) messages quote the offending value: invalid input syntax for type
 * integer: "123-45-6789", value "..." is out of range, Token "..." is invalid, found "-45".
 * Everything from the first to the last double quote is replaced.
 */
function redactQuoted(text: string, values: string[]): string {
  const a = text.indexOf('"');
  const b = text.lastIndexOf('"');
  if (a < 0) return text;
  if (b === a) {
    values.push(text.slice(a + 1));
    return `${text.slice(0, a + 1)}${REDACTED}"`;
  }
  values.push(text.slice(a + 1, b));
  return `${text.slice(0, a + 1)}${REDACTED}${text.slice(b)}`;
}

/** Context lines that end with data: "COPY t, line 2, column ssn: "..."", "COPY t, line 2: "..."", "JSON data, line 1: ...". */
const DATA_CONTEXT = /^((?:COPY [^\n]*?, line \d+(?:, column [^\n:]*)?|JSON data, line \d+): )(.*)$/gm;

function redactContext(text: string, values: string[]): string {
  return text.replace(DATA_CONTEXT, (_all, head: string, rest: string) => {
    values.push(rest.replace(/^"|"$/g, ''));
    return `${head}${REDACTED}`;
  });
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Literal values (and, for tuples, their comma-separated parts of 4+ characters) to scrub everywhere. */
function literalPatterns(values: string[]): RegExp | null {
  const set = new Set<string>();
  for (const v of values) {
    const t = v.trim();
    if (t.length >= 4) set.add(t);
    for (const part of t.split(/,\s*/)) {
      const p = part.trim().replace(/^"(.*)"$/, '$1');
      if (p.length >= 4 && p !== 'null') set.add(p);
    }
  }
  if (set.size === 0) return null;
  const sorted = [...set].sort((a, b) => b.length - a.length).map(escapeRegExp);
  return new RegExp(sorted.join('|'), 'g');
}

/**
 * Masks an ErrorResponse or NoticeResponse. Returns the same Buffer when nothing changes.
 * - Key (cols)=(values) of unique / foreign-key / exclusion violations: values replaced when the
 *   statement is sensitive or one of the key's columns is masked/classified (table from the
 *   error's schema/table fields).
 * - "Failing row contains (...)" (check, not-null, partition constraints): replaced when the
 *   statement is sensitive or the error's table has masked/classified columns.
 * - sensitive statements: quoted values of class 22 (data exception) messages, and data context
 *   lines (COPY ..., line N: ..., JSON data, line N: ...).
 * - every value removed above is also removed wherever else it appears literally in the message.
 * - the detectors over message, detail, hint, context and internal query.
 */
export function maskErrorOrNotice(message: Buffer, rules: MaskRules): Buffer {
  const type = message[0];
  if (type !== TYPE_E && type !== TYPE_N) return message;
  const nothingToDo = !rules.sensitive && rules.tables.size === 0 && rules.detectors.empty;
  if (nothingToDo) return message;
  const fields = readFields(message);
  if (!fields) return message;
  const get = (c: string): string | undefined => fields.find((f) => f.code === c.charCodeAt(0))?.text;
  const schema = get('s');
  const table = get('t');
  const sqlstate = get('C') ?? '';
  const tableKey = schema && table ? `${schema}.${table}`.toLowerCase() : null;
  const tableMasked = tableKey !== null && rules.tables.has(tableKey);
  const columnMasked = (col: string): boolean => {
    if (!tableKey) return false;
    const k = `${tableKey}.${col.toLowerCase()}`;
    return rules.columns.has(k) || rules.classified.has(k);
  };

  const values: string[] = [];
  let changed = false;
  for (const f of fields) {
    const code = String.fromCharCode(f.code);
    if (!TEXT_FIELDS.has(code)) continue;
    let text = f.text;
    if (code === 'D') {
      const redactKey = (cols: string[] | null): boolean =>
        rules.sensitive || (cols === null ? tableMasked : cols.some(columnMasked) || (tableMasked && cols.some((c) => /[()]/.test(c))));
      const x = extractDetail(text, redactKey, rules.sensitive || tableMasked);
      text = x.text;
      values.push(...x.values);
    }
    if (rules.sensitive) {
      if (sqlstate.startsWith('22') && (code === 'M' || code === 'D')) text = redactQuoted(text, values);
      if (code === 'W') text = redactContext(text, values);
    }
    if (text !== f.text) {
      f.text = text;
      changed = true;
    }
  }
  const literals = literalPatterns(values);
  for (const f of fields) {
    if (!TEXT_FIELDS.has(String.fromCharCode(f.code))) continue;
    let text = f.text;
    if (literals) text = text.replace(literals, REDACTED);
    if (!rules.detectors.empty) text = rules.detectors.redact(text, rules.hits);
    if (text !== f.text) {
      f.text = text;
      changed = true;
    }
  }
  return changed ? writeFields(type, fields) : message;
}
