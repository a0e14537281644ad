// One packet data file: runs a read-only query on the evidence database and writes the
// result as CSV, with the exact SQL and a meta file that lets anyone re-run it and compare.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StatementType, type DuckDBConnection, type DuckDBPreparedStatement, type DuckDBValue } from '@duckdb/node-api';
import { formatResult, QueryFailed, QueryRefused, runReadOnlyQuery, toPlain, type QueryResult } from '../../collectors/query.js';
import { resultSha256 } from './hash.js';
import type { ManifestEntry } from './manifest.js';

export type QueryParam = string | number | boolean | null;
export type QueryParams = Record<string, QueryParam>;

/** The subset of `params` the SQL names as $name (DuckDB refuses parameters a statement does not use). */
export function paramsUsedBy(sql: string, params: QueryParams): QueryParams {
  return Object.fromEntries(Object.entries(params).filter(([k]) => new RegExp(`\\$${k}\\b`).test(sql)));
}

export interface PacketQuery {
  /** Names queries/<id>.sql and queries/<id>.meta.json: letters, digits, '-', '_' and '.'. */
  id: string;
  title: string;
  /** One read-only statement. Ordering is the SQL's job (ORDER BY): the result hash depends on it. */
  sql: string;
  /** Named parameters ($name in the SQL), bound when the query runs. */
  params?: QueryParams;
  /** The CSV's path inside the packet (forward slashes); `<id>.csv` by default. */
  file?: string;
}

export interface QueryMeta {
  id: string;
  title: string;
  sql_file: string;
  parameters: QueryParams;
  executed_at: string;
  columns: string[];
  row_count: number;
  /**
   * 'rows' (the default): sha256 of canonicalResult (see hash.ts) of the rows.
   * 'csv': sha256 of the CSV DuckDB's COPY writes (copy-query.ts), for results too large to load.
   */
  result_sha256: string;
  result_sha256_of?: 'rows' | 'csv';
  outputs: string[];
}

export interface PacketQueryResult {
  id: string;
  file: string;
  rowCount: number;
  resultSha256: string;
  /** The rows (runPacketQuery only; a COPY query never loads them). */
  result?: QueryResult;
  /** Output files already hashed as they were written, for the manifest (runPacketCopyQuery's CSV). */
  described?: ManifestEntry[];
}

/** Run on the connection before packet queries, when writing and when verifying: times in UTC. */
export const PACKET_SESSION_SETUP = `SET TimeZone = 'UTC'`;

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function isSafeRelativePath(p: string): boolean {
  return p !== '' && !p.startsWith('/') && !p.includes('\\') && !/^[A-Za-z]:/.test(p) && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/**
 * Runs a packet query: the one path both the packet writer and `auditgate verify --db` use.
 * Without parameters it is `auditgate query`'s read-only runner; with them, a single SELECT
 * prepared and bound.
 */
export async function executePacketQuery(conn: DuckDBConnection, sql: string, params: QueryParams = {}): Promise<QueryResult> {
  if (Object.keys(params).length === 0) return runReadOnlyQuery(conn, sql);
  const p = await prepareSelect(conn, sql);
  try {
    p.bind(params as Record<string, DuckDBValue>);
    const r = await p.runAndReadAll();
    return { columns: r.columnNames(), types: r.columnTypes().map((t) => t.toString()), rows: r.getRows().map((row) => row.map(toPlain)) };
  } catch (err) {
    throw new QueryFailed((err as Error).message);
  }
}

/** Prepares sql, which must be one SELECT (a packet query never writes). */
export async function prepareSelect(conn: DuckDBConnection, sql: string): Promise<DuckDBPreparedStatement> {
  let p;
  try {
    p = await conn.prepare(sql);
  } catch (err) {
    throw new QueryFailed((err as Error).message);
  }
  if (p.statementType !== StatementType.SELECT) throw new QueryRefused('a packet query must be one SELECT statement');
  return p;
}

/** Refuses a query id or output path that would write outside the packet or into queries/. */
export function checkPacketQuery(q: PacketQuery, outputs: string[]): void {
  if (!ID.test(q.id)) throw new Error(`packet query id ${JSON.stringify(q.id)}: use letters, digits, '-', '_' and '.'`);
  for (const f of outputs) {
    if (!isSafeRelativePath(f) || f.startsWith('queries/')) throw new Error(`packet query ${q.id}: output path ${JSON.stringify(f)} must be relative, inside the packet and outside queries/`);
  }
}

/** queries/<id>.sql (the exact SQL) and queries/<id>.meta.json: what lets anyone re-run a data file. */
export async function writeQueryFiles(outDir: string, sql: string, meta: QueryMeta): Promise<void> {
  await mkdir(join(outDir, 'queries'), { recursive: true });
  await writeFile(join(outDir, meta.sql_file), sql.endsWith('\n') ? sql : `${sql}\n`);
  await writeFile(join(outDir, 'queries', `${meta.id}.meta.json`), `${JSON.stringify(meta, null, 2)}\n`);
}

export async function runPacketQuery(conn: DuckDBConnection, q: PacketQuery, outDir: string): Promise<PacketQueryResult> {
  const file = q.file ?? `${q.id}.csv`;
  checkPacketQuery(q, [file]);
  const params = q.params ?? {};
  const executedAt = new Date().toISOString();
  const result = await executePacketQuery(conn, q.sql, params);
  const hash = resultSha256(result);
  const sqlFile = `queries/${q.id}.sql`;
  const meta: QueryMeta = {
    id: q.id,
    title: q.title,
    sql_file: sqlFile,
    parameters: params,
    executed_at: executedAt,
    columns: result.columns,
    row_count: result.rows.length,
    result_sha256: hash,
    outputs: [file],
  };
  await mkdir(dirname(join(outDir, file)), { recursive: true });
  await writeFile(join(outDir, file), formatResult(result, 'csv'));
  await writeQueryFiles(outDir, q.sql, meta);
  return { id: q.id, file, rowCount: result.rows.length, resultSha256: hash, result };
}
