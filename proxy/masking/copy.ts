// COPY ... TO STDOUT rows (CopyData payloads) in text and CSV formats. PostgreSQL sends one row per
// CopyData; a payload holding several rows, or a last row without its newline, is handled too.
// A row whose field count is not the plan's (wrong delimiter assumption, a row split across
// messages) is replaced whole by masked fields: masking never changes the number of columns.
import type { DetectorHits } from './detectors.js';
import { REDACTED, maskText, type MaskMethod, type TypeClass } from './methods.js';
import type { ColumnPlan, RowPlan } from './plan.js';

export type CopyTextFormat = 'text' | 'csv';

export interface CopyTextOptions {
  format: CopyTextFormat;
  /** One character; default tab (text) or comma (csv). */
  delimiter: string;
  /** The NULL marker; default \N (text) or the empty unquoted string (csv). */
  null: string;
  /** CSV quote character, default ". */
  quote: string;
  /** CSV escape character, default the quote. */
  escape: string;
}

export function copyTextOptions(format: CopyTextFormat, o: Partial<Omit<CopyTextOptions, 'format'>> = {}): CopyTextOptions {
  const quote = o.quote ?? '"';
  return {
    format,
    delimiter: o.delimiter ?? (format === 'csv' ? ',' : '\t'),
    null: o.null ?? (format === 'csv' ? '' : '\\N'),
    quote,
    escape: o.escape ?? quote,
  };
}

/** A parsed field: its raw text, and the value (null for NULL). */
interface RawField {
  raw: string;
  value: string | null;
}

// ------------------------------------------------------------------------------------------ text

function unescapeText(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\' || i + 1 >= s.length) {
      out += c;
      continue;
    }
    const n = s[++i]!;
    switch (n) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x': {
        const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 1, i + 3));
        if (m) {
          out += String.fromCharCode(parseInt(m[0], 16));
          i += m[0].length;
        } else out += 'x';
        break;
      }
      default:
        if (n >= '0' && n <= '7') {
          const m = /^[0-7]{1,3}/.exec(s.slice(i, i + 3))!;
          out += String.fromCharCode(parseInt(m[0], 8));
          i += m[0].length - 1;
        } else out += n;
    }
  }
  return out;
}

function escapeText(s: string, delimiter: string): string {
  let out = '';
  for (const c of s) {
    if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (c === delimiter) out += `\\${c}`;
    else out += c;
  }
  return out;
}

/** Splits text-format rows: fields end at an unescaped delimiter, rows at a newline. */
function parseTextRows(s: string, o: CopyTextOptions): { fields: RawField[]; eol: string }[] {
  const rows: { fields: RawField[]; eol: string }[] = [];
  let fields: RawField[] = [];
  let start = 0;
  const push = (end: number): void => {
    const raw = s.slice(start, end);
    fields.push({ raw, value: raw === o.null ? null : unescapeText(raw) });
  };
  let i = 0;
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      i++;
    } else if (c === o.delimiter) {
      push(i);
      start = i + 1;
    } else if (c === '\n') {
      push(i);
      rows.push({ fields, eol: '\n' });
      fields = [];
      start = i + 1;
    }
  }
  if (start < s.length || fields.length > 0) {
    push(s.length);
    rows.push({ fields, eol: '' });
  }
  return rows;
}

// ------------------------------------------------------------------------------------------- csv

function parseCsvRows(s: string, o: CopyTextOptions): { fields: RawField[]; eol: string }[] {
  const rows: { fields: RawField[]; eol: string }[] = [];
  let fields: RawField[] = [];
  let i = 0;
  const n = s.length;
  while (i < n) {
    const start = i;
    let value = '';
    let quoted = false;
    // one field
    while (i < n) {
      const c = s[i]!;
      if (c === o.quote) {
        quoted = true;
        i++;
        while (i < n) {
          const q = s[i]!;
          if (q === o.escape && i + 1 < n && (s[i + 1] === o.quote || (o.escape !== o.quote && s[i + 1] === o.escape))) {
            value += s[i + 1];
            i += 2;
          } else if (q === o.quote) {
            i++;
            break;
          } else {
            value += q;
            i++;
          }
        }
      } else if (c === o.delimiter || c === '\n') {
        break;
      } else {
        value += c;
        i++;
      }
    }
    const raw = s.slice(start, i);
    fields.push({ raw, value: !quoted && raw === o.null ? null : value });
    if (i >= n) {
      rows.push({ fields, eol: '' });
      fields = [];
      break;
    }
    if (s[i] === '\n') {
      rows.push({ fields, eol: '\n' });
      fields = [];
    }
    i++;
    if (i === n && s[i - 1] === o.delimiter) {
      fields.push({ raw: '', value: o.null === '' ? null : '' });
      rows.push({ fields, eol: '' });
      fields = [];
    }
  }
  return rows;
}

function quoteCsv(s: string, o: CopyTextOptions): string {
  let out = o.quote;
  for (const c of s) {
    if (c === o.quote || (o.escape !== o.quote && c === o.escape)) out += o.escape;
    out += c;
  }
  return out + o.quote;
}

// ---------------------------------------------------------------------------------------- common

/** The method's output for a COPY field: COPY text is text, so only the column type's class matters. */
function maskedText(method: MaskMethod, value: string, cls: TypeClass, key: Buffer): string | null {
  const t = maskText(method, value, key);
  if (t === null || cls === 'other') return null;
  return cls === 'json' || cls === 'jsonb' ? JSON.stringify(t) : t;
}

function encodeField(v: string | null, o: CopyTextOptions): string {
  if (v === null) return o.null;
  return o.format === 'csv' ? quoteCsv(v, o) : escapeText(v, o.delimiter);
}

/** undefined: keep the raw field. */
function maskField(col: ColumnPlan, f: RawField, o: CopyTextOptions, plan: RowPlan, hits: DetectorHits): string | undefined {
  if (col.action === 'pass' || f.value === null) return undefined;
  const detectors = plan.rules.detectors;
  if (col.action === 'scan') {
    let before = 0;
    for (const k in hits) before += hits[k]!;
    const out = detectors.redact(f.value, hits);
    let after = 0;
    for (const k in hits) after += hits[k]!;
    if (after === before) return undefined;
    col.count++;
    return encodeField(out, o);
  }
  if (col.detect) detectors.redact(f.value, hits);
  col.count++;
  return encodeField(maskedText(col.method, f.value, col.typeClass, plan.rules.hashKey), o);
}

/**
 * Masks the rows of one CopyData payload (not the message: no type byte or length) with a plan
 * whose columns are the COPY's columns. Returns `row` itself when nothing changes.
 */
export function maskCopyTextRow(
  row: Buffer,
  plan: RowPlan,
  format: CopyTextFormat,
  delimiter?: string,
  options: Partial<Omit<CopyTextOptions, 'format' | 'delimiter'>> = {},
): Buffer {
  if (plan.work.length === 0) return row;
  const o = copyTextOptions(format, { ...options, ...(delimiter !== undefined ? { delimiter } : {}) });
  const s = row.toString('utf8');
  const rows = format === 'csv' ? parseCsvRows(s, o) : parseTextRows(s, o);
  const hits = plan.rules.hits;
  let changed = false;
  const out: string[] = [];
  for (const r of rows) {
    const n = plan.columns.length;
    if (r.fields.length !== n) {
      // cannot tell which field is which: every field of a masked plan is replaced
      changed = true;
      const parts: string[] = [];
      for (let i = 0; i < n; i++) {
        const col = plan.columns[i]!;
        col.count++;
        const method = col.action === 'mask' ? col.method : plan.rules.defaultMethod;
        parts.push(encodeField(method === 'null' ? null : REDACTED, o));
      }
      out.push(parts.join(o.delimiter) + r.eol);
      continue;
    }
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      const f = r.fields[i]!;
      const m = maskField(plan.columns[i]!, f, o, plan, hits);
      if (m === undefined) parts.push(f.raw);
      else {
        parts.push(m);
        changed = true;
      }
    }
    out.push(parts.join(o.delimiter) + r.eol);
  }
  return changed ? Buffer.from(out.join(''), 'utf8') : row;
}

/**
 * Binary COPY out of sensitive data is refused rather than rewritten: the stream is a file format
 * of its own (a signature and header sharing the first CopyData with the first tuple, a trailer in
 * the last), and a refusal cannot get it wrong. Returns the reason to refuse with (before the
 * statement runs, from the statement's COPY facts), or null.
 */
export function binaryCopyRefusal(format: string | null | undefined, sensitive: boolean): string | null {
  if (!sensitive || (format ?? '').toLowerCase() !== 'binary') return null;
  return 'COPY ... TO STDOUT in binary format is not allowed for statements that read sensitive columns: the gateway masks COPY output only in text and csv formats';
}
