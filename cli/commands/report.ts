// `auditgate report cc6`: writes the SOC 2 CC6 evidence packet (reports/cc6/). Progress on
// stderr when it is a terminal; the summary (where the packet is, headline figures, how to
// verify) on stdout.
import type { CommandModule } from 'yargs';
import { EvidenceDbError } from '../../collectors/evidence-db.js';
import { KeyError } from '../../proxy/recorder/keys.js';
import { QueryFailed } from '../../collectors/query.js';
import { DEFAULT_PACKET_KEY, generateCc6Report, ReportError, type Cc6Result } from '../../reports/cc6/generate.js';
import { PeriodError } from '../../reports/cc6/period.js';
import { CliError } from '../errors.js';

interface Cc6Args {
  db: string;
  from: string;
  to: string;
  out: string;
  zip?: string;
  org?: string;
  'sample-size': number;
  seed?: string;
  'signing-key': string;
  tz: string;
}

const cc6: CommandModule<object, Cc6Args> = {
  command: 'cc6',
  describe: 'Write a SOC 2 CC6 evidence packet: index.html, CSV/Parquet evidence, queries, a seeded sample, signed manifest',
  builder: (y) =>
    y
      .option('db', { type: 'string', demandOption: true, describe: 'The evidence database (DuckDB), read-only' })
      .option('from', { type: 'string', demandOption: true, describe: 'First day of the period (YYYY-MM-DD) or an instant (2026-10-01T00:00:00Z)' })
      .option('to', { type: 'string', demandOption: true, describe: 'Last day of the period, inclusive (YYYY-MM-DD), or an exclusive instant' })
      .option('out', { type: 'string', demandOption: true, describe: 'The packet folder to write (new or empty)' })
      .option('zip', { type: 'string', describe: 'Also write the sealed packet as this .zip (outside --out)' })
      .option('org', { type: 'string', describe: 'Organisation name shown on the packet' })
      .option('sample-size', { type: 'number', default: 25, describe: 'Sessions sampled for transcripts' })
      .option('seed', { type: 'string', describe: 'Sample seed (default: derived from the population digest); same seed, same sample' })
      .option('signing-key', { type: 'string', default: DEFAULT_PACKET_KEY, describe: 'Ed25519 private key (PEM) that signs the manifest; created on first use, public key beside it (.pub.pem)' })
      .option('tz', { type: 'string', default: 'UTC', describe: 'IANA time zone for days and business hours' }) as never,
  handler: async (args) => {
    const tty = process.stderr.isTTY;
    let last = '';
    let result: Cc6Result;
    try {
      result = await generateCc6Report({
        db: args.db,
        from: args.from,
        to: args.to,
        out: args.out,
        ...(args.zip ? { zip: args.zip } : {}),
        ...(args.org ? { org: args.org } : {}),
        sampleSize: args['sample-size'],
        ...(args.seed !== undefined ? { seed: String(args.seed) } : {}),
        signingKey: args['signing-key'],
        timeZone: args.tz,
        arguments: { db: args.db, from: args.from, to: args.to, out: args.out, zip: args.zip ?? null, org: args.org ?? null, sample_size: args['sample-size'], seed: args.seed ?? null, signing_key: args['signing-key'], tz: args.tz },
        progress: (stage, done, total) => {
          if (!tty) return;
          const line = `report cc6: [${done}/${total}] ${stage}`;
          process.stderr.write(`\r${line.padEnd(last.length)}`);
          last = line;
        },
      });
    } catch (err) {
      if (last) process.stderr.write('\n');
      if (err instanceof ReportError || err instanceof PeriodError || err instanceof EvidenceDbError || err instanceof KeyError || err instanceof QueryFailed) throw new CliError(err.message);
      throw err;
    }
    if (last) process.stderr.write(`\r${' '.repeat(last.length)}\r`);
    const f = result.figures;
    const n = (k: string) => (f[k] === null || f[k] === undefined ? '–' : Number(f[k]).toLocaleString('en-US'));
    process.stdout.write(
      [
        `CC6 evidence packet written to ${result.dir} (${result.files} files, ${(result.elapsedMs / 1000).toFixed(1)} s)`,
        `  ${n('sessions')} sessions, ${n('statements')} statements (${n('statements_denied')} denied, ${n('approvals')} held for approval), ${n('values_masked')} values masked`,
        `  ${n('exceptions')} exceptions, ${n('reviews')} items to review, ${n('sampled')} sessions sampled`,
        `  open ${result.dir}/index.html`,
        `  signed by key ${result.keyId}${result.keyCreated ? ` (created now: ${args['signing-key']}; publish ${result.publicKeyFile} to your auditors)` : ''}`,
        `  verify: auditgate verify ${result.dir} --public-key ${result.publicKeyFile} [--db ${args.db}]`,
        '',
      ].join('\n'),
    );
  },
};

export const reportCommand: CommandModule = {
  command: 'report <kind>',
  describe: 'Write an evidence packet (cc6: SOC 2 CC6 logical access)',
  builder: (y) => y.command(cc6 as CommandModule).demandCommand(1, 'Name a report: cc6') as never,
  handler: () => {},
};
