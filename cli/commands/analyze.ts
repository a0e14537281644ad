import { text } from 'node:stream/consumers';
import type { CommandModule } from 'yargs';
import { analyze, loadAnalyzer } from '../../proxy/analysis/index.js';
import { readDocument } from '../read-input.js';
import { CliError } from '../errors.js';

interface Args {
  sql: string;
  protocol: 'simple' | 'extended';
  params?: string;
}

export const analyzeCommand: CommandModule<object, Args> = {
  command: 'analyze <sql>',
  describe: 'Print the statement facts the policy sees for SQL (one object per statement), as JSON',
  builder: (y) =>
    y
      .positional('sql', { type: 'string', demandOption: true, describe: 'SQL text; "-" reads it from stdin' })
      .option('protocol', { choices: ['simple', 'extended'] as const, default: 'simple' as const })
      .option('params', { type: 'string', describe: 'bound parameters as a JSON array (extended protocol)' })
      .example('$0 analyze "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d"', ''),
  handler: async (args) => {
    const sql = args.sql === '-' ? await text(process.stdin) : args.sql;
    let params: (string | null)[] | undefined;
    if (args.params !== undefined) {
      const p = await readDocument(args.params, '--params');
      if (!Array.isArray(p)) throw new CliError('--params must be a JSON array of strings or nulls');
      params = p.map((v) => (v === null ? null : String(v)));
    }
    await loadAnalyzer();
    const facts = analyze(sql, { protocol: args.protocol, params });
    process.stdout.write(`${JSON.stringify(facts, null, 2)}\n`);
  },
};
