// Identity directory import: people, agents and services from an IdP export (CSV or JSON)
// into directory_imports / directory_identities (collectors/schema/identities.ts).
// An import is all or nothing: one bad row refuses the whole file, naming every bad line,
// because a directory with silent holes would make the access matrix lie.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { TableAppender, datedId, inTransaction } from './duck-append.js';
import type { EvidenceDb } from './evidence-db.js';
import { directoryIdentities, directoryImports } from './schema/identities.js';

export const IDENTITY_KINDS = ['human', 'agent', 'service'] as const;
export const IDENTITY_STATUSES = ['active', 'disabled'] as const;
const FIELDS = ['subject', 'display_name', 'email', 'kind', 'owner', 'groups', 'status', 'created_at', 'disabled_at'] as const;
const REQUIRED = ['subject', 'kind', 'status'] as const;
type Field = (typeof FIELDS)[number];

export interface DirectoryIdentity {
  line: number;
  subject: string;
  display_name: string | null;
  email: string | null;
  kind: (typeof IDENTITY_KINDS)[number];
  owner: string | null;
  groups: string[];
  status: (typeof IDENTITY_STATUSES)[number];
  created_at: Date | null;
  disabled_at: Date | null;
}

export interface Problem {
  line: number;
  message: string;
}

export class IdentityImportError extends Error {
  override name = 'IdentityImportError';
  constructor(
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super(message);
  }
}

// ---- CSV (RFC 4180) ------------------------------------------------------------------------

export interface CsvRecord {
  /** The physical line the record starts on (1-based). */
  line: number;
  fields: string[];
}

export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/**
 * RFC 4180: comma-separated fields, records ending in CRLF (LF and CR accepted), fields in
 * double quotes may hold commas, quotes (doubled) and line breaks. Strict where guessing
 * would corrupt data (a stray quote, text after a closing quote, an unclosed quote). A UTF-8
 * BOM is skipped and empty lines are ignored.
 */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let value = '';
      if (text[i] === '"') {
        const opened = line;
        i++;
        for (;;) {
          if (i >= n) throw new CsvError('a quoted field is never closed', opened);
          const ch = text[i]!;
          if (ch === '"') {
            if (text[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === '\n' || (ch === '\r' && text[i + 1] !== '\n')) line++;
          value += ch;
          i++;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          throw new CsvError('text after a closing quote (a quote inside a quoted field must be doubled: "")', line);
        }
      } else {
        let j = i;
        for (; j < n && text[j] !== ',' && text[j] !== '\n' && text[j] !== '\r'; j++) {
          if (text[j] === '"') throw new CsvError('a quote inside an unquoted field (quote the whole field and double the quote)', line);
        }
        value = text.slice(i, j);
        i = j;
      }
      fields.push(value);
      if (i >= n) break;
      if (text[i] === ',') {
        i++;
        continue;
      }
      i += text[i] === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      break;
    }
    if (fields.length > 1 || fields[0] !== '') records.push({ line: start, fields });
  }
  return records;
}

// ---- one shape for both formats ------------------------------------------------------------

type RawValue = string | string[] | null | undefined;
type RawIdentity = Partial<Record<Field, RawValue>>;

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/i;

/** A date (midnight UTC) or a date-time with a zone: a zoneless time would be a guess. */
export function parseTimestamp(s: string): Date | undefined {
  const m = DATE_RE.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zone = 'Z'] = m;
  const days = new Date(Date.UTC(Number(y), Number(mo), 0)).getUTCDate();
  if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > days || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return undefined;
  const z = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const t = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${sec}${frac.slice(0, 4)}${z}`);
  return Number.isNaN(t) ? undefined : new Date(t);
}

const EMAIL_RE = /^[^\s@]+@[^\s@]+$/;

function text(v: RawValue): string | null {
  if (typeof v !== 'string') return null;
  const t = v.trim();
  return t === '' ? null : t;
}

/** Checks and normalises one row; pushes what is wrong with it to problems. */
function normalise(raw: RawIdentity, line: number, problems: Problem[]): DirectoryIdentity | undefined {
  const before = problems.length;
  const bad = (message: string) => problems.push({ line, message });
  const subject = text(raw.subject);
  if (subject === null) bad('subject is empty');
  const kind = text(raw.kind);
  if (!IDENTITY_KINDS.includes(kind as DirectoryIdentity['kind'])) bad(`kind must be ${IDENTITY_KINDS.join(', ')} (got ${JSON.stringify(kind ?? '')})`);
  const status = text(raw.status);
  if (!IDENTITY_STATUSES.includes(status as DirectoryIdentity['status'])) bad(`status must be ${IDENTITY_STATUSES.join(' or ')} (got ${JSON.stringify(status ?? '')})`);
  const email = text(raw.email);
  if (email !== null && !EMAIL_RE.test(email)) bad(`email is not an address (got ${JSON.stringify(email)})`);
  const owner = text(raw.owner);
  if (owner !== null && owner === subject) bad('owner is the identity itself');
  const dates: Record<'created_at' | 'disabled_at', Date | null> = { created_at: null, disabled_at: null };
  for (const f of ['created_at', 'disabled_at'] as const) {
    const v = text(raw[f]);
    if (v === null) continue;
    const d = parseTimestamp(v);
    if (d) dates[f] = d;
    else bad(`${f} must be a date (2024-05-01) or a date-time with a zone (2024-05-01T09:30:00Z) (got ${JSON.stringify(v)})`);
  }
  if (dates.created_at && dates.disabled_at && dates.disabled_at < dates.created_at) bad('disabled_at is before created_at');
  const groups = Array.isArray(raw.groups) ? raw.groups : typeof raw.groups === 'string' ? raw.groups.split(';') : [];
  if (problems.length > before) return undefined;
  return {
    line,
    subject: subject!,
    display_name: text(raw.display_name),
    email,
    kind: kind as DirectoryIdentity['kind'],
    owner,
    groups: [...new Set(groups.map((g) => g.trim()).filter((g) => g !== ''))],
    status: status as DirectoryIdentity['status'],
    created_at: dates.created_at,
    disabled_at: dates.disabled_at,
  };
}

function refuse(source: string, problems: Problem[]): never {
  problems.sort((a, b) => a.line - b.line);
  const shown = problems.slice(0, 50).map((p) => `  line ${p.line}: ${p.message}`);
  if (problems.length > 50) shown.push(`  ... and ${problems.length - 50} more`);
  const lines = new Set(problems.map((p) => p.line)).size;
  throw new IdentityImportError(`${source}: refused, nothing imported: ${lines} bad ${lines === 1 ? 'line' : 'lines'}\n${shown.join('\n')}`, problems);
}

function finish(source: string, rows: { raw: RawIdentity; line: number }[], problems: Problem[]): DirectoryIdentity[] {
  const out: DirectoryIdentity[] = [];
  const seen = new Map<string, number>();
  for (const { raw, line } of rows) {
    const id = normalise(raw, line, problems);
    if (!id) continue;
    const first = seen.get(id.subject);
    if (first !== undefined) problems.push({ line, message: `subject ${JSON.stringify(id.subject)} is already on line ${first}` });
    else seen.set(id.subject, line);
    out.push(id);
  }
  if (problems.length > 0) refuse(source, problems);
  if (out.length === 0) throw new IdentityImportError(`${source}: refused: it holds no identities`);
  return out;
}

// ---- the two formats -----------------------------------------------------------------------

/** CSV with a header row naming the columns (any order; subject, kind and status required). Groups are `;`-separated. */
export function parseDirectoryCsv(content: string, source = 'CSV'): DirectoryIdentity[] {
  let records: CsvRecord[];
  try {
    records = parseCsv(content);
  } catch (err) {
    if (err instanceof CsvError) refuse(source, [{ line: err.line, message: err.message.replace(/^line \d+: /, '') }]);
    throw err;
  }
  const [header, ...body] = records;
  if (!header) throw new IdentityImportError(`${source}: refused: the file is empty (expected a header row: ${FIELDS.join(',')})`);
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const problems: Problem[] = [];
  names.forEach((name, i) => {
    if (!(FIELDS as readonly string[]).includes(name)) problems.push({ line: header.line, message: `unknown column ${JSON.stringify(name)} (known: ${FIELDS.join(', ')})` });
    else if (names.indexOf(name) !== i) problems.push({ line: header.line, message: `column ${name} appears twice` });
  });
  for (const r of REQUIRED) if (!names.includes(r)) problems.push({ line: header.line, message: `the header has no ${r} column` });
  if (problems.length > 0) refuse(source, problems);
  const rows: { raw: RawIdentity; line: number }[] = [];
  for (const rec of body) {
    if (rec.fields.length !== names.length) {
      problems.push({ line: rec.line, message: `${rec.fields.length} fields where the header has ${names.length}` });
      continue;
    }
    const raw: RawIdentity = {};
    names.forEach((name, i) => (raw[name as Field] = rec.fields[i]));
    rows.push({ raw, line: rec.line });
  }
  return finish(source, rows, problems);
}

const nullableString = { type: ['string', 'null'] } as const;
const jsonSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: [...REQUIRED],
    additionalProperties: false,
    properties: {
      subject: { type: 'string', minLength: 1 },
      display_name: nullableString,
      email: nullableString,
      kind: { enum: [...IDENTITY_KINDS] },
      owner: nullableString,
      groups: { type: ['array', 'null'], items: { type: 'string' } },
      status: { enum: [...IDENTITY_STATUSES] },
      created_at: nullableString,
      disabled_at: nullableString,
    },
  },
} as const;
const validateJson = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(jsonSchema);

/** The line each element of the top-level array starts on (the text is valid JSON). */
function elementLines(content: string): number[] {
  const lines: number[] = [];
  let depth = 0;
  let line = 1;
  let inString = false;
  let expecting = false;
  for (let i = 0; i < content.length; i++) {
    const ch = content[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '\n') line++;
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') continue;
    if (expecting && depth === 1 && ch !== ']') lines.push(line);
    expecting = false;
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') expecting = ++depth === 1;
    else if (ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 1) expecting = true;
  }
  return lines;
}

function lineAt(content: string, position: number): number {
  let line = 1;
  for (let i = 0; i < position && i < content.length; i++) if (content[i] === '\n') line++;
  return line;
}

function describeAjv(e: ErrorObject): string {
  const field = e.instancePath.split('/').slice(2).join('.') || 'the entry';
  const p = e.params as { allowedValues?: unknown[]; additionalProperty?: string; missingProperty?: string };
  if (p.missingProperty) return `${p.missingProperty} is missing`;
  if (p.additionalProperty) return `unknown field ${JSON.stringify(p.additionalProperty)} (known: ${FIELDS.join(', ')})`;
  if (p.allowedValues) return `${field} must be ${p.allowedValues.join(', ')}`;
  return `${field} ${e.message ?? 'is invalid'}`;
}

/** A JSON array of objects with the CSV's columns as fields; groups is an array of strings. */
export function parseDirectoryJson(content: string, source = 'JSON'): DirectoryIdentity[] {
  let doc: unknown;
  try {
    doc = JSON.parse(content);
  } catch (err) {
    const msg = (err as Error).message;
    const pos = /position (\d+)/.exec(msg);
    refuse(source, [{ line: pos ? lineAt(content, Number(pos[1])) : 1, message: `not valid JSON: ${msg}` }]);
  }
  const lines = elementLines(content);
  const lineOf = (index: number) => lines[index] ?? 1;
  if (!validateJson(doc)) {
    const problems = (validateJson.errors ?? []).map((e) => {
      const index = /^\/(\d+)/.exec(e.instancePath);
      return index
        ? { line: lineOf(Number(index[1])), message: `entry ${Number(index[1]) + 1}: ${describeAjv(e)}` }
        : { line: 1, message: 'the file must be a JSON array of identities' };
    });
    refuse(source, problems);
  }
  const rows = (doc as RawIdentity[]).map((raw, i) => ({ raw, line: lineOf(i) }));
  return finish(source, rows, []);
}

// ---- landing -------------------------------------------------------------------------------

export interface ImportIdentitiesOptions {
  file: string;
  db: EvidenceDb;
  now?: Date;
}

export interface IdentityImportResult {
  importId: string;
  importedAt: Date;
  sourceFile: string;
  format: 'csv' | 'json';
  sha256: string;
  rowCount: number;
  byKind: Record<DirectoryIdentity['kind'], number>;
  disabled: number;
}

export async function importIdentities(opts: ImportIdentitiesOptions): Promise<IdentityImportResult> {
  const sourceFile = basename(opts.file);
  const ext = extname(opts.file).toLowerCase();
  if (ext !== '.csv' && ext !== '.json') {
    throw new IdentityImportError(`${sourceFile}: the format is told by the extension, .csv or .json (got ${JSON.stringify(ext || 'none')})`);
  }
  const format = ext === '.csv' ? 'csv' : 'json';
  let bytes: Buffer;
  try {
    bytes = await readFile(opts.file);
  } catch (err) {
    throw new IdentityImportError(`cannot read ${opts.file}: ${(err as Error).message}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let content: string;
  try {
    content = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new IdentityImportError(`${sourceFile}: refused: not UTF-8 text`);
  }
  const rows = format === 'csv' ? parseDirectoryCsv(content, sourceFile) : parseDirectoryJson(content, sourceFile);

  const importedAt = opts.now ?? new Date();
  const importId = datedId('dir', importedAt);
  const duck = opts.db.connection;
  await inTransaction(duck, async () => {
    const ids = await TableAppender.open(duck, directoryIdentities);
    try {
      for (const r of rows) {
        ids.append([importId, r.line, r.subject, r.display_name, r.email, r.kind, r.owner, r.groups, r.status, r.created_at, r.disabled_at]);
      }
    } catch (err) {
      // Close inside the transaction, so the ROLLBACK takes the unflushed rows too.
      try {
        ids.close();
      } catch {
        // the append error is the one to report
      }
      throw err;
    }
    ids.close();
    const imp = await TableAppender.open(duck, directoryImports);
    imp.append([importId, importedAt, sourceFile, format, sha256, rows.length]);
    imp.close();
  });
  const check = await duck.runAndReadAll('SELECT count(*)::INTEGER FROM directory_imports WHERE import_id = $1', [importId]);
  if (check.getRows()[0]?.[0] !== 1) throw new IdentityImportError(`import ${importId} did not land in ${opts.db.path} (the transaction was rolled back)`);

  const byKind = { human: 0, agent: 0, service: 0 };
  for (const r of rows) byKind[r.kind]++;
  return { importId, importedAt, sourceFile, format, sha256, rowCount: rows.length, byKind, disabled: rows.filter((r) => r.status === 'disabled').length };
}
