// Typed landing of rows into DuckDB tables with the appender (one INSERT per row is ~100x
// slower). A table is declared once as columns; its DDL and the appender's calls both come
// from that declaration, so they cannot disagree on column order or type.
import { randomUUID } from 'node:crypto';
import { DuckDBTimestampTZValue, LIST, VARCHAR, timestampTZValue, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';

export type ColumnType = 'VARCHAR' | 'BOOLEAN' | 'INTEGER' | 'BIGINT' | 'TIMESTAMPTZ' | 'VARCHAR[]';

export interface Column {
  name: string;
  type: ColumnType;
  notNull?: boolean;
}

export interface TableDef {
  name: string;
  columns: readonly Column[];
  primaryKey?: string;
}

/** TIMESTAMPTZ cells: a Date, or microseconds since the epoch (for ±infinity, which a Date cannot hold). */
export type Cell = string | number | bigint | boolean | Date | readonly string[] | null | undefined;

export const TIMESTAMP_INFINITY = DuckDBTimestampTZValue.PosInf.micros;
export const TIMESTAMP_MINUS_INFINITY = DuckDBTimestampTZValue.NegInf.micros;

export function createTableSql(t: TableDef): string {
  const cols = t.columns.map((c) => `${c.name} ${c.type}${c.notNull ? ' NOT NULL' : ''}`);
  if (t.primaryKey) cols.push(`PRIMARY KEY (${t.primaryKey})`);
  return `CREATE TABLE IF NOT EXISTS ${t.name} (${cols.join(', ')})`;
}

const VARCHAR_LIST = LIST(VARCHAR);

/** A row could not be landed (a DuckDB constraint or type problem), as opposed to a source failing. */
export class LandingError extends Error {
  override name = 'LandingError';
}

/** Appends rows to one table; `rows` counts them. Errors name the table and column. */
export class TableAppender {
  rows = 0;
  private constructor(
    readonly table: TableDef,
    private readonly appender: DuckDBAppender,
  ) {}

  static async open(connection: DuckDBConnection, table: TableDef): Promise<TableAppender> {
    return new TableAppender(table, await connection.createAppender(table.name));
  }

  append(cells: readonly Cell[]): void {
    const cols = this.table.columns;
    if (cells.length !== cols.length) throw new Error(`${this.table.name}: ${cells.length} values for ${cols.length} columns`);
    try {
      for (let i = 0; i < cols.length; i++) appendCell(this.appender, cols[i]!, cells[i]);
      this.appender.endRow();
    } catch (err) {
      throw new LandingError(`landing a row in ${this.table.name} failed: ${(err as Error).message}`);
    }
    this.rows++;
  }

  /** Flushes and closes; rows become visible to the connection's transaction. */
  close(): void {
    try {
      this.appender.closeSync();
    } catch (err) {
      throw new LandingError(`landing rows in ${this.table.name} failed: ${(err as Error).message}`);
    }
  }
}

function appendCell(a: DuckDBAppender, col: Column, v: Cell): void {
  if (v === null || v === undefined) {
    a.appendNull();
    return;
  }
  switch (col.type) {
    case 'VARCHAR':
      return a.appendVarchar(String(v));
    case 'BOOLEAN':
      if (typeof v !== 'boolean') throw new Error(`${col.name}: expected a boolean, got ${typeof v}`);
      return a.appendBoolean(v);
    case 'INTEGER':
      return a.appendInteger(Number(v));
    case 'BIGINT':
      return a.appendBigInt(BigInt(v as string | number | bigint));
    case 'TIMESTAMPTZ': {
      const micros = v instanceof Date ? BigInt(v.getTime()) * 1000n : BigInt(v as string | number | bigint);
      return a.appendTimestampTZ(timestampTZValue(micros));
    }
    case 'VARCHAR[]':
      if (!Array.isArray(v)) throw new Error(`${col.name}: expected a list`);
      return a.appendList((v as readonly unknown[]).map(String), VARCHAR_LIST);
  }
}

/**
 * Runs fn in one DuckDB transaction: all of it lands or none. Rolls back explicitly on error,
 * because DuckDB's COMMIT of a transaction an error aborted returns silently having kept nothing.
 */
export async function inTransaction<T>(c: DuckDBConnection, fn: () => Promise<T>): Promise<T> {
  await c.run('BEGIN TRANSACTION');
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    try {
      await c.run('ROLLBACK');
    } catch {
      // already rolled back by DuckDB: nothing to undo
    }
    throw err;
  }
  await c.run('COMMIT');
  return result;
}

/** A sortable, readable id: prefix-20250102T030405Z-1a2b3c4d. */
export function datedId(prefix: string, at: Date): string {
  const stamp = at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  return `${prefix}-${stamp}-${randomUUID().slice(0, 8)}`;
}
