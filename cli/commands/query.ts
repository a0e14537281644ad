// `auditgate query --db evidence.duckdb "SQL"`: auditors' SQL over the evidence database,
// read-only (collectors/query.ts): the database is opened READ_ONLY, DuckDB's access to other
// files is switched off, and a statement that would write is refused before anything runs.
// docs/evidence.md lists the tables and views.
import { text } from 'node:stream/consumers';
import type { Argv, CommandModule } from 'yargs';
import { EvidenceDbError, openEvidenceDb } from '../../collectors/evidence-db.js';
import { formatResult, OUTPUT_FORMATS, QueryFailed, QueryRefused, runReadOnlyQuery, type OutputFormat } from '../../collectors/query.js';
import { CliError } from '../errors.js';

export interface QueryArgs {
  sql: string;
  db: string;
  format: OutputFormat;
}

export async function runQuery(args: QueryArgs, stdout: (t: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const sql = args.sql === '-' ? await text(process.stdin) : args.sql;
  if (!sql.trim()) throw new CliError('no SQL given: auditgate query --db FILE "SELECT ..." (or "-" to read it from stdin)');
  let db;
  try {
    db = await openEvidenceDb(args.db, { readOnly: true });
  } catch (err) {
    throw new CliError((err as Error).message, err instanceof EvidenceDbError ? 1 : 2);
  }
  try {
    // No files outside the evidence database: nothing to read elsewhere, nothing to write
    // (some statements act on the file system as soon as DuckDB binds them). Once off, a
    // query cannot turn it back on.
    await db.connection.run('SET enable_external_access = false');
    stdout(formatResult(await runReadOnlyQuery(db.connection, sql), args.format));
  } catch (err) {
    if (err instanceof QueryRefused) throw new CliError(err.message, 2);
    if (err instanceof QueryFailed) throw new CliError(`the query failed: ${err.message}`, 1);
    throw err;
  } finally {
    db.close();
  }
}

export const queryCommand: CommandModule<object, QueryArgs> = {
  command: 'query <sql>',
  describe: 'Run read-only SQL over the evidence database (tables and views: docs/evidence.md)',
  builder: (y) =>
    y
      .positional('sql', { type: 'string', demandOption: true, describe: 'SQL (several statements: the last one\'s result is printed); "-" reads it from stdin' })
      .option('db', { type: 'string', demandOption: true, describe: 'The evidence database (DuckDB file)' })
      .option('format', { choices: OUTPUT_FORMATS, default: 'table' as OutputFormat, describe: 'table (aligned), csv (RFC 4180) or json (an array of objects)' })
      .example('$0 query --db evidence.duckdb "SELECT * FROM integrity"', '')
      .example('$0 query --db evidence.duckdb --format csv "SELECT * FROM access_matrix WHERE standing_grant IS NOT TRUE" > findings.csv', '') as unknown as Argv<QueryArgs>,
  handler: async (args) => {
    await runQuery(args);
  },
};
