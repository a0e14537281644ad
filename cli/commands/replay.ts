// `auditgate replay SESSION_ID --db evidence.duckdb`: one recorded session as a readable
// transcript (collectors/replay.ts): identity, client, role, then each statement with its
// decision, rows, masked columns and approvals, in recording order.
import type { Argv, CommandModule } from 'yargs';
import { EvidenceDbError, openEvidenceDb } from '../../collectors/evidence-db.js';
import { AmbiguousSession, formatTranscript, sessionTranscript } from '../../collectors/replay.js';
import { CliError } from '../errors.js';

export interface ReplayArgs {
  session: string;
  db: string;
  gateway?: string;
  json?: boolean;
}

export async function runReplay(args: ReplayArgs, stdout: (t: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  let db;
  try {
    db = await openEvidenceDb(args.db, { readOnly: true });
  } catch (err) {
    throw new CliError((err as Error).message, err instanceof EvidenceDbError ? 1 : 2);
  }
  try {
    const t = await sessionTranscript(db.connection, args.session, args.gateway);
    if (!t) throw new CliError(`no session ${args.session}${args.gateway ? ` on gateway ${args.gateway}` : ''} in ${args.db} (list them: auditgate query --db ${args.db} "SELECT session_id, subject, started_at FROM sessions ORDER BY started_at DESC LIMIT 20")`, 1);
    stdout(args.json ? `${JSON.stringify(t, null, 2)}\n` : formatTranscript(t));
  } catch (err) {
    if (err instanceof AmbiguousSession) throw new CliError(err.message, 2);
    throw err;
  } finally {
    db.close();
  }
}

export const replayCommand: CommandModule<object, ReplayArgs> = {
  command: 'replay <session>',
  describe: 'Print a recorded session as a transcript: each statement, its decision, rows, masked columns and approvals',
  builder: (y) =>
    y
      .positional('session', { type: 'string', demandOption: true, describe: 'The session id (sessions.session_id)' })
      .option('db', { type: 'string', demandOption: true, describe: 'The evidence database (DuckDB file)' })
      .option('gateway', { type: 'string', describe: 'The gateway id, when the same session id was recorded on several gateways' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the transcript as JSON' })
      .example('$0 replay 3f1c9a2e-... --db evidence.duckdb', '') as unknown as Argv<ReplayArgs>,
  handler: async (args) => {
    await runReplay(args);
  },
};
