// Opens the evidence database (DuckDB, embedded) and brings its schema up to date. Every
// collector, the query and replay commands, and reports go through here, so the tables and
// views auditors read are the ones docs/evidence.md lists.
import { totalmem } from 'node:os';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { deriveStatements } from './derive-statements.js';
import { SCHEMA_PARTS } from './schema/index.js';

export interface EvidenceDb {
  path: string;
  connection: DuckDBConnection;
  close(): void;
}

export interface OpenOptions {
  /** Read-only: the schema is not touched and writes fail (auditgate query). */
  readOnly?: boolean;
}

export class EvidenceDbError extends Error {}

/**
 * DuckDB's memory limit for the evidence database: AUDITGATE_DUCKDB_MEMORY_LIMIT (a DuckDB size
 * such as '4GB') or a quarter of the machine's RAM (at least 1 GiB). DuckDB's own default, 80%
 * of RAM, lets one report take the whole machine; beyond the limit it spills to disk instead.
 */
export function duckdbMemoryLimit(): string {
  const given = process.env.AUDITGATE_DUCKDB_MEMORY_LIMIT?.trim();
  if (given) return given;
  return `${Math.max(1024, Math.floor(totalmem() / 4 / 2 ** 20))}MB`;
}

export async function openEvidenceDb(path: string, opts: OpenOptions = {}): Promise<EvidenceDb> {
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path, { ...(opts.readOnly ? { access_mode: 'READ_ONLY' } : {}), memory_limit: duckdbMemoryLimit() });
  } catch (err) {
    throw new EvidenceDbError(`cannot open the evidence database ${path}: ${(err as Error).message}`);
  }
  const connection = await instance.connect();
  const db: EvidenceDb = {
    path,
    connection,
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
  if (!opts.readOnly) {
    try {
      await applySchema(connection);
      // Segments landed but not derived yet: a database from an older auditgate (whose schema
      // was just brought up to date), or a collect run that stopped before deriving.
      await deriveStatements(connection);
    } catch (err) {
      db.close();
      throw err;
    }
  }
  return db;
}

/** Creates what is missing, part by part; each part's statements are idempotent (IF NOT EXISTS, OR REPLACE for views). */
async function applySchema(c: DuckDBConnection): Promise<void> {
  await c.run(`CREATE TABLE IF NOT EXISTS schema_parts (part VARCHAR PRIMARY KEY, version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`);
  const applied = new Map<string, number>();
  for (const row of (await c.runAndReadAll('SELECT part, version FROM schema_parts')).getRowObjects()) {
    applied.set(String(row.part), Number(row.version));
  }
  for (const part of SCHEMA_PARTS) {
    const have = applied.get(part.name);
    if (have !== undefined && have > part.version) {
      throw new EvidenceDbError(`the evidence database's ${part.name} schema is version ${have}, newer than this auditgate knows (${part.version}): upgrade auditgate`);
    }
    if (have === part.version) continue;
    await c.run('BEGIN TRANSACTION');
    try {
      for (const sql of part.statements) await c.run(sql);
      await c.run(`INSERT OR REPLACE INTO schema_parts VALUES ('${part.name}', ${part.version}, now())`);
      await c.run('COMMIT');
    } catch (err) {
      await c.run('ROLLBACK');
      throw new EvidenceDbError(`creating the ${part.name} tables failed: ${(err as Error).message}`);
    }
  }
}
