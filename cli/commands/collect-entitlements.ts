// `auditgate collect entitlements`: a snapshot of who can access what, from the PostgreSQL
// catalog into the evidence database. The summary goes to stdout; progress lines to stderr,
// and only on a terminal, so scripts and CI logs get the summary alone.
import type { Argv, CommandModule } from 'yargs';
import { collectEntitlements, EntitlementsError, type EntitlementsResult } from '../../collectors/entitlements.js';
import { EvidenceDbError, openEvidenceDb } from '../../collectors/evidence-db.js';
import { CliError } from '../errors.js';

export interface CollectEntitlementsArgs {
  postgres: string;
  db: string;
  allDatabases?: boolean;
}

export interface CollectOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Progress lines are written only when stderr is a terminal. */
  progress: boolean;
}

export const processOutput = (): CollectOutput => ({
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  progress: process.stderr.isTTY === true,
});

export async function runCollectEntitlements(args: CollectEntitlementsArgs, out: CollectOutput = processOutput()): Promise<EntitlementsResult> {
  let db;
  try {
    db = await openEvidenceDb(args.db);
  } catch (err) {
    throw new CliError((err as Error).message, err instanceof EvidenceDbError ? 1 : 2);
  }
  let result: EntitlementsResult;
  try {
    result = await collectEntitlements({
      postgres: args.postgres,
      db,
      allDatabases: args.allDatabases === true,
      ...(out.progress ? { onProgress: (m: string) => out.stderr(`${m}\n`) } : {}),
    });
  } catch (err) {
    if (err instanceof EntitlementsError) throw new CliError(`collecting entitlements failed, nothing landed: ${err.message}`, 1);
    throw err;
  } finally {
    db.close();
  }
  const width = Math.max(...Object.keys(result.counts).map((k) => k.length));
  const lines = [
    `snapshot ${result.snapshotId} of ${result.source} landed in ${args.db}`,
    `databases: ${result.databases.join(', ')}`,
    ...(result.skippedDatabases.length > 0 ? [`skipped: ${result.skippedDatabases.join(', ')}`] : []),
    ...Object.entries(result.counts).map(([table, n]) => `  ${table.padEnd(width)}  ${n}`),
  ];
  out.stdout(`${lines.join('\n')}\n`);
  return result;
}

export const collectEntitlementsCommand: CommandModule<object, CollectEntitlementsArgs> = {
  command: 'entitlements',
  describe: 'Snapshot who can access what (roles, memberships, privileges, default privileges, RLS policies) from the PostgreSQL catalog into the evidence database',
  builder: (y) =>
    y
      .option('postgres', {
        type: 'string',
        demandOption: true,
        describe: 'postgres://user@host:port/database to read; give the password in PGPASSWORD (never stored or printed)',
      })
      .option('db', { type: 'string', demandOption: true, describe: 'the evidence database (DuckDB file; created if missing)' })
      .option('all-databases', {
        type: 'boolean',
        default: false,
        describe: 'also read every other database of the server the user may connect to (templates are skipped)',
      })
      .example('PGPASSWORD=... $0 collect entitlements --postgres postgres://auditor@db:5432/app --db evidence.duckdb --all-databases', '') as unknown as Argv<CollectEntitlementsArgs>,
  handler: async (args) => {
    await runCollectEntitlements(args);
  },
};
