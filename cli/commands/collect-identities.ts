// `auditgate collect identities`: import the IdP's directory export (people, agents and their
// owners, services) into the evidence database. A file with any bad row is refused whole.
import type { Argv, CommandModule } from 'yargs';
import { EvidenceDbError, openEvidenceDb } from '../../collectors/evidence-db.js';
import { IdentityImportError, importIdentities, type IdentityImportResult } from '../../collectors/identities.js';
import { CliError } from '../errors.js';
import { processOutput, type CollectOutput } from './collect-entitlements.js';

export interface CollectIdentitiesArgs {
  file: string;
  db: string;
}

export async function runCollectIdentities(args: CollectIdentitiesArgs, out: CollectOutput = processOutput()): Promise<IdentityImportResult> {
  let db;
  try {
    db = await openEvidenceDb(args.db);
  } catch (err) {
    throw new CliError((err as Error).message, err instanceof EvidenceDbError ? 1 : 2);
  }
  let r: IdentityImportResult;
  try {
    r = await importIdentities({ file: args.file, db });
  } catch (err) {
    if (err instanceof IdentityImportError) throw new CliError(err.message, 1);
    throw err;
  } finally {
    db.close();
  }
  out.stdout(
    `import ${r.importId} of ${r.sourceFile} (${r.format}, sha256 ${r.sha256}) landed in ${args.db}\n` +
      `  ${r.rowCount} identities: ${r.byKind.human} human, ${r.byKind.agent} agent, ${r.byKind.service} service; ${r.disabled} disabled\n`,
  );
  return r;
}

export const collectIdentitiesCommand: CommandModule<object, CollectIdentitiesArgs> = {
  command: 'identities',
  describe: 'Import a directory export (people, agents, services, groups) from the IdP, as CSV or JSON, into the evidence database',
  builder: (y) =>
    y
      .option('file', {
        type: 'string',
        demandOption: true,
        describe: 'the export: .csv (header row; groups ;-separated) or .json (an array of objects)',
      })
      .option('db', { type: 'string', demandOption: true, describe: 'the evidence database (DuckDB file; created if missing)' })
      .example('$0 collect identities --file okta-export.csv --db evidence.duckdb', '') as unknown as Argv<CollectIdentitiesArgs>,
  handler: async (args) => {
    await runCollectIdentities(args);
  },
};
