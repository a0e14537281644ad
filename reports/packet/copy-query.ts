// A packet data file too large to hold in memory (a population of millions of statements):
// DuckDB itself writes the query's result as CSV (and, if asked, Parquet), and the recorded
// hash is the CSV file's sha256. `auditgate verify --db` re-runs the same COPY into a scratch
// file and compares, so reproducing it never loads the rows into JavaScript either.
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { QueryFailed, sqlLiteral } from '../../collectors/query.js';
import { sha256File } from './hash.js';
import { checkPacketQuery, prepareSelect, writeQueryFiles, type PacketQuery, type PacketQueryResult, type QueryMeta, type QueryParams } from './query-file.js';

/** CSV as DuckDB writes it for packets: header, comma, RFC 4180 quoting, LF line ends. */
const CSV_OPTIONS = `FORMAT csv, HEADER true, DELIMITER ',', QUOTE '"', ESCAPE '"', NEW_LINE '\\n', DATEFORMAT '%Y-%m-%d', TIMESTAMPFORMAT '%Y-%m-%dT%H:%M:%S.%fZ'`;
// zstd level 1: the statements population's Parquet in 2 fewer CPU-seconds per 10M rows than the default
// level 3, for 4% more bytes (docs/report-cc6.md, "Performance").
const PARQUET_OPTIONS = `FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1`;

const stripSemicolon = (sql: string) => sql.trim().replace(/;\s*$/, '');

/**
 * Runs COPY (sql) TO path with the parameters bound; returns the rows written. The statement
 * must be one SELECT: checked by preparing it alone first.
 */
export async function copyQueryTo(conn: DuckDBConnection, sql: string, params: QueryParams, path: string, format: 'csv' | 'parquet'): Promise<number> {
  const select = stripSemicolon(sql);
  await prepareSelect(conn, select);
  try {
    const p = await conn.prepare(`COPY (${select}) TO ${sqlLiteral(path)} (${format === 'csv' ? CSV_OPTIONS : PARQUET_OPTIONS})`);
    if (Object.keys(params).length) p.bind(params as Record<string, DuckDBValue>);
    const r = await p.runAndReadAll();
    return Number(r.getRows()[0]?.[0] ?? 0);
  } catch (err) {
    throw new QueryFailed((err as Error).message);
  }
}

/** The CSV DuckDB writes for sql, and its sha256: what verify --db compares with the recorded hash. */
export async function copyCsvSha256(conn: DuckDBConnection, sql: string, params: QueryParams, scratchDir: string): Promise<{ sha256: string; rows: number }> {
  const tmp = join(scratchDir, `rerun-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.csv`);
  try {
    const rows = await copyQueryTo(conn, sql, params, tmp, 'csv');
    return { sha256: (await sha256File(tmp)).sha256, rows };
  } finally {
    await rm(tmp, { force: true });
  }
}

export interface CopyPacketQuery extends PacketQuery {
  /** Also write the result as Parquet at this path inside the packet. */
  parquet?: string;
}

export async function runPacketCopyQuery(conn: DuckDBConnection, q: CopyPacketQuery, outDir: string): Promise<PacketQueryResult> {
  const file = q.file ?? `${q.id}.csv`;
  checkPacketQuery(q, q.parquet ? [file, q.parquet] : [file]);
  const params = q.params ?? {};
  const executedAt = new Date().toISOString();
  const csvPath = join(outDir, file);
  await mkdir(dirname(csvPath), { recursive: true });
  // Written under a temporary name so a failed run never leaves a half file looking finished.
  const partial = `${csvPath}.partial`;
  const rows = await copyQueryTo(conn, q.sql, params, partial, 'csv');
  await rename(partial, csvPath);
  // Hashed while DuckDB writes the Parquet copy (on its own threads): a population CSV is gigabytes.
  const hashing = sha256File(csvPath);
  const outputs = [file];
  try {
    if (q.parquet) {
      const pq = join(outDir, q.parquet);
      await mkdir(dirname(pq), { recursive: true });
      const n = await copyQueryTo(conn, q.sql, params, `${pq}.partial`, 'parquet');
      if (n !== rows) throw new QueryFailed(`packet query ${q.id}: the Parquet copy has ${n} rows, the CSV ${rows}: the evidence database changed while the packet was written`);
      await rename(`${pq}.partial`, pq);
      outputs.push(q.parquet);
    }
  } catch (err) {
    await hashing.catch(() => {});
    throw err;
  }
  const { sha256, bytes } = await hashing;
  const sqlFile = `queries/${q.id}.sql`;
  const meta: QueryMeta = {
    id: q.id,
    title: q.title,
    sql_file: sqlFile,
    parameters: params,
    executed_at: executedAt,
    columns: [],
    row_count: rows,
    result_sha256: sha256,
    result_sha256_of: 'csv',
    outputs,
  };
  await writeQueryFiles(outDir, q.sql, meta);
  // One CSV record per result row (quoted line breaks stay inside their record): the manifest's row count.
  return { id: q.id, file, rowCount: rows, resultSha256: sha256, described: [{ path: file, sha256, bytes, rows }] };
}
