// The statement analyzer: SQL text in, one StatementFacts per statement out, from PostgreSQL's
// own parser (libpg-query), never from pattern matching on the text. One parse per call; the
// gateway calls this on its hot path.
import { fingerprintSync, loadModule, parseSync } from 'libpg-query';
import { type AstObject, isObject } from './ast.js';
import { type DescribeContext, type Draft, describe } from './describe.js';
import { type AnalyzeOptions, type PreparedRegistry, type StatementFacts, emptyFacts } from './facts.js';

let loading: Promise<void> | undefined;
let ready = false;

/** Loads the parser (WebAssembly) once; later calls return the same promise. */
export function loadAnalyzer(): Promise<void> {
  loading ??= loadModule().then(
    () => {
      ready = true;
    },
    (err: unknown) => {
      loading = undefined; // let a later call retry
      throw err;
    },
  );
  return loading;
}

/** True once loadAnalyzer() has resolved. */
export function analyzerReady(): boolean {
  return ready;
}

const FINGERPRINT = /^[0-9a-f]{16}$/;

interface RawStatement {
  stmt?: unknown;
  stmt_location?: number;
  stmt_len?: number;
}

/**
 * Analyzes every statement in `sql`, in order. Never throws for any input once the parser is
 * loaded: what cannot be parsed (or analysed) comes back as one fact set of kind 'parse_error'.
 * PREPARE/DEALLOCATE update `opts.prepared` (a local registry when none is given, so PREPARE and
 * EXECUTE in one string work); the update is applied only if the whole string was analysed.
 */
export function analyze(sql: string, opts: AnalyzeOptions = {}): StatementFacts[] {
  if (!ready) throw new Error('auditgate analyzer: call and await loadAnalyzer() before analyze()');
  const options = opts ?? {};
  if (typeof sql !== 'string') return [failure('', 'query text is not a string', null, options)];
  // The parser reads a C string: text after a NUL would be invisible to it (and to PostgreSQL's
  // protocol), so such input is refused rather than half-analysed. NULs are dropped from the
  // recorded text: C-string consumers downstream would truncate it too.
  if (sql.includes('\0')) return [failure(sql.split('\0').join(''), 'query text contains a NUL character', null, options)];
  if (isBlank(sql)) return [empty('', options)];

  let stmts: RawStatement[];
  try {
    stmts = (parseSync(sql).stmts ?? []) as RawStatement[];
  } catch (err) {
    return [parseFailure(sql, err, options)];
  }
  if (stmts.length === 0) return [empty(tidy(sql), options)]; // only comments or semicolons

  const texts = statementTexts(sql, stmts);
  const registry = new StagedRegistry(options.prepared);
  let current = { sql: '', fingerprint: '' };
  const ctx: DescribeContext = {
    lookup: (name) => registry.get(name),
    // The parser gives no location for PREPARE's inner statement, so its registered facts keep
    // the PREPARE's text and fingerprint; EXECUTE replaces both with its own.
    prepare: (name, inner) => registry.set(name, finalize(inner, current.sql, current.fingerprint, options)),
    deallocate: (name) => registry.delete(name),
  };
  try {
    const out: StatementFacts[] = [];
    for (let i = 0; i < stmts.length; i++) {
      const text = texts[i]!;
      // One statement: fingerprint the input as given (comments and semicolons do not change it).
      current = { sql: text, fingerprint: fingerprintOf(stmts.length === 1 ? sql : text) };
      out.push(finalize(describe(stmts[i]!.stmt, ctx), current.sql, current.fingerprint, options));
    }
    registry.commit();
    return out;
  } catch (err) {
    // An AST shape this analyzer does not expect, or a tree too deep to walk: fail closed.
    return [failure(sql, `statement could not be analysed: ${messageOf(err)}`, null, options)];
  }
}

/**
 * Each statement's own text. stmt_location/stmt_len are byte offsets into the UTF-8 encoding;
 * stmt_len 0 (absent) means "to the end". PostgreSQL starts a statement at its first token (leading
 * comments belong to no statement) and ends it before its semicolon.
 */
function statementTexts(sql: string, stmts: RawStatement[]): string[] {
  const first = stmts[0]!;
  if (stmts.length === 1 && !first.stmt_location && !first.stmt_len) return [tidy(sql)];
  // Byte offsets equal string offsets when every character is one byte.
  const bytes = Buffer.byteLength(sql, 'utf8') === sql.length ? null : Buffer.from(sql, 'utf8');
  const total = bytes === null ? sql.length : bytes.length;
  return stmts.map((s) => {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : total;
    return tidy(bytes === null ? sql.slice(start, end) : bytes.toString('utf8', start, end));
  });
}

function isSpace(code: number): boolean {
  // PostgreSQL's whitespace: space, \t, \n, \v, \f, \r (not Unicode spaces, which are not separators to it).
  return code === 32 || (code >= 9 && code <= 13);
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (!isSpace(text.charCodeAt(i))) return false;
  return true;
}

/** A one-statement string's statement text as facts.sql holds it: without surrounding whitespace and trailing semicolons. */
export const statementText = (sql: string): string => tidy(sql);

/** Trims surrounding whitespace and trailing semicolons. */
function tidy(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && (isSpace(text.charCodeAt(end - 1)) || text.charCodeAt(end - 1) === 59)) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

function fingerprintOf(text: string): string {
  try {
    const fp = fingerprintSync(text);
    // fingerprintSync returns some errors as text instead of throwing them.
    return FINGERPRINT.test(fp) ? fp : '';
  } catch {
    return '';
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The registry as the statements of one call see it; written back only if the call succeeds. */
class StagedRegistry {
  private staged: PreparedRegistry | undefined;
  constructor(private readonly base: PreparedRegistry | undefined) {}

  get(name: string): StatementFacts | undefined {
    return (this.staged ?? this.base)?.get(name);
  }

  set(name: string, facts: StatementFacts): void {
    this.writable().set(name, facts);
  }

  delete(name: string | null): void {
    if (name === null) this.writable().clear();
    else this.writable().delete(name);
  }

  commit(): void {
    if (this.staged === undefined || this.base === undefined) return;
    this.base.clear();
    for (const [name, facts] of this.staged) this.base.set(name, facts);
  }

  private writable(): PreparedRegistry {
    this.staged ??= new Map(this.base ?? []);
    return this.staged;
  }
}

function finalize(d: Draft, sql: string, fingerprint: string, opts: AnalyzeOptions): StatementFacts {
  const facts: StatementFacts = {
    sql,
    fingerprint,
    kind: d.kind,
    command_tag: d.command_tag,
    tables: d.tables,
    columns: d.columns,
    functions: d.functions,
    operations: d.operations,
    read_only: d.read_only,
    has_where: d.has_where,
    has_limit: d.has_limit,
    in_transaction: opts.in_transaction ?? false,
    protocol: opts.protocol ?? 'simple',
    param_count: d.param_count,
    copy: d.copy,
    set: d.set,
    explain: d.explain,
    prepared: d.prepared,
    procedural: d.procedural,
    utility: d.utility,
    error: null,
  };
  if (opts.params !== undefined) facts.params = opts.params.slice();
  return facts;
}

function bare(kind: 'empty' | 'parse_error', sql: string, opts: AnalyzeOptions): StatementFacts {
  // No statement: no fingerprint, no tables; an empty string is trivially read-only.
  const facts: StatementFacts = {
    ...emptyFacts(sql),
    kind,
    read_only: kind === 'empty',
    in_transaction: opts.in_transaction ?? false,
    protocol: opts.protocol ?? 'simple',
  };
  if (opts.params !== undefined) facts.params = opts.params.slice();
  return facts;
}

function empty(sql: string, opts: AnalyzeOptions): StatementFacts {
  return bare('empty', sql, opts);
}

function failure(sql: string, message: string, position: number | null, opts: AnalyzeOptions): StatementFacts {
  const facts = bare('parse_error', sql, opts);
  facts.error = { message, position };
  return facts;
}

/**
 * The parser's error: its message and cursor position, a 0-based offset in characters (code
 * points, as PostgreSQL counts them; not bytes, not UTF-16 units) into the submitted string,
 * which is therefore kept verbatim as `sql`.
 */
function parseFailure(sql: string, err: unknown, opts: AnalyzeOptions): StatementFacts {
  const details = isObject(err) ? (err as AstObject).sqlDetails : undefined;
  const position = isObject(details) && typeof details.cursorPosition === 'number' ? details.cursorPosition : null;
  return failure(sql, messageOf(err), position, opts);
}
