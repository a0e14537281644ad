// `auditgate query`: auditors' SQL over the evidence database, read-only twice over. The
// database is opened READ_ONLY (DuckDB refuses any write to it), and every statement is
// checked before it runs: only reads are accepted, so COPY ... TO, EXPORT DATABASE or ATTACH
// (which would write files elsewhere, or open another database for writing) are refused
// with a plain explanation rather than run.
import { StatementType, type DuckDBConnection, type DuckDBResultReader, type DuckDBValue } from '@duckdb/node-api';

/** A string as a DuckDB SQL literal (single quotes doubled), for SQL text auditgate builds itself. */
export const sqlLiteral = (s: string): string => `'${s.replaceAll("'", "''")}'`;

export type OutputFormat = 'table' | 'csv' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'csv', 'json'];

/** A statement that would write: refused before it runs. */
export class QueryRefused extends Error {
  override name = 'QueryRefused';
}

/** DuckDB could not run the query (syntax, unknown table, ...). */
export class QueryFailed extends Error {
  override name = 'QueryFailed';
}

/** Statement types that only read (SET and transactions change nothing stored). */
const READS = new Set<number>([StatementType.SELECT, StatementType.EXPLAIN, StatementType.PRAGMA, StatementType.CALL, StatementType.SET, StatementType.VARIABLE_SET, StatementType.TRANSACTION]);

const typeName = (t: number): string => (StatementType as unknown as Record<number, string>)[t] ?? `type ${t}`;

export interface QueryResult {
  columns: string[];
  types: string[];
  rows: unknown[][];
}

/**
 * Runs each statement of `sql` in turn and returns the last one's result. Refuses the whole
 * string, before running any of it, if one statement would write.
 */
export async function runReadOnlyQuery(c: DuckDBConnection, sql: string): Promise<QueryResult> {
  let extracted;
  try {
    extracted = await c.extractStatements(sql);
  } catch (err) {
    throw new QueryFailed((err as Error).message);
  }
  if (extracted.count === 0) throw new QueryFailed('no SQL statement given');
  const prepared = [];
  for (let i = 0; i < extracted.count; i++) {
    let p;
    try {
      p = await extracted.prepare(i);
    } catch (err) {
      const message = (err as Error).message;
      if (/^Permission Error/.test(message)) throw new QueryRefused(`auditgate query is read-only and reads the evidence database alone: ${message}`);
      throw new QueryFailed(message);
    }
    if (!READS.has(p.statementType)) {
      throw new QueryRefused(
        `auditgate query is read-only: ${typeName(p.statementType)} statements are refused${extracted.count > 1 ? ` (statement ${i + 1} of ${extracted.count}; none ran)` : ''}. ` +
          'Only reads run: SELECT, WITH, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE, PRAGMA. The evidence database is written by `auditgate collect` alone; ' +
          'to export a result, use --format csv or json and redirect it.',
      );
    }
    if (p.statementType === StatementType.EXPLAIN && /\bEXPLAIN\s+ANALY[SZ]E\b/i.test(sql)) {
      throw new QueryRefused('auditgate query is read-only: EXPLAIN ANALYZE runs the statement it explains; use EXPLAIN');
    }
    prepared.push(p);
  }
  let reader: DuckDBResultReader | null = null;
  for (const p of prepared) {
    try {
      reader = await p.runAndReadAll();
    } catch (err) {
      throw new QueryFailed((err as Error).message);
    }
  }
  const r = reader!;
  return { columns: r.columnNames(), types: r.columnTypes().map((t) => t.toString()), rows: r.getRows().map((row) => row.map(toPlain)) };
}

/** A DuckDB value as plain JSON-able data: exact integers stay exact (as strings when past 2^53). */
export function toPlain(v: DuckDBValue): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  const o = v as unknown as { items?: DuckDBValue[]; entries?: Record<string, DuckDBValue> | { key: DuckDBValue; value: DuckDBValue }[]; toString(): string };
  if (Array.isArray(o.items)) return o.items.map(toPlain);
  if (o.entries !== undefined) {
    if (Array.isArray(o.entries)) return Object.fromEntries(o.entries.map((e) => [String(toPlain(e.key)), toPlain(e.value)]));
    return Object.fromEntries(Object.entries(o.entries).map(([k, x]) => [k, toPlain(x)]));
  }
  if (v.constructor?.name === 'DuckDBBlobValue') return Buffer.from((v as unknown as { bytes: Uint8Array }).bytes).toString('hex');
  return o.toString();
}

const cell = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function csvField(s: string): string {
  return /[",\r\n]/.test(s) || s === '' ? `"${s.replaceAll('"', '""')}"` : s;
}

export function formatResult(r: QueryResult, format: OutputFormat): string {
  if (format === 'json') {
    const objects = r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null])));
    return `${JSON.stringify(objects, null, 2)}\n`;
  }
  if (format === 'csv') {
    const lines = [r.columns.map(csvField).join(',')];
    for (const row of r.rows) lines.push(row.map((v) => (v === null || v === undefined ? '' : csvField(cell(v)))).join(','));
    return `${lines.join('\r\n')}\r\n`;
  }
  // table: aligned columns; NULL spelled out; newlines shown as ⏎ so a row stays one line.
  const text = r.rows.map((row) => row.map((v) => (v === null || v === undefined ? 'NULL' : cell(v).replace(/\r?\n/g, '⏎'))));
  const widths = r.columns.map((c, i) => Math.max(c.length, ...text.map((row) => row[i]!.length)));
  const numeric = r.types.map((t) => /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL)/.test(t));
  const line = (cells: string[]) => cells.map((s, i) => (numeric[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!))).join(' │ ').trimEnd();
  const out = [line(r.columns), widths.map((w) => '─'.repeat(w)).join('─┼─'), ...text.map(line), `(${r.rows.length} row${r.rows.length === 1 ? '' : 's'})`];
  return `${out.join('\n')}\n`;
}
