import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { loadConfig } from '../../proxy/config/load.js';
import { KeyError, loadPublicKey } from '../../proxy/recorder/keys.js';
import { verifyDirectory, type DirectoryReport } from '../../proxy/recorder/verify.js';
import { CliError } from '../errors.js';

interface VerifyLogArgs {
  segments: string;
  'public-key'?: string;
  config?: string;
  'allow-open'?: boolean;
  json?: boolean;
}

/** The public key: named, or the one the gateway config publishes. */
async function publicKeyPath(args: VerifyLogArgs): Promise<string> {
  if (args['public-key']) return resolve(args['public-key']);
  if (args.config) return (await loadConfig(args.config)).recording.public_key_file;
  throw new CliError('name the segment signing public key: --public-key FILE (or --config auditgate.yaml to use the one the gateway publishes)');
}

export function formatReport(r: DirectoryReport): string {
  const lines = [`auditgate verify-log: ${r.directory}`];
  for (const g of r.gateways) {
    lines.push(`  gateway ${g.gatewayId}: ${g.segments} segment${g.segments === 1 ? '' : 's'}, ${g.records} records${g.firstSeq !== null ? ` (sequence ${g.firstSeq}-${g.lastSeq})` : ''}`);
  }
  for (const f of r.findings) lines.push(`  FAIL ${f.segment ?? '-'}: ${f.code}: ${f.message}`);
  const records = r.gateways.reduce((n, g) => n + g.records, 0);
  lines.push(
    r.findings.length
      ? `${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}: the record is altered or incomplete.`
      : r.segments.length
        ? `OK: ${r.segments.length} segments, ${records} records; every signature, digest, record hash and chain link verifies.`
        : 'OK: no segments (nothing recorded yet).',
  );
  return `${lines.join('\n')}\n`;
}

export const verifyLogCommand: CommandModule<object, VerifyLogArgs> = {
  command: 'verify-log',
  describe: 'Verify recorded segments: signatures, digests, the hash chain, sequence gaps, truncation, reordering',
  builder: (y) =>
    y
      .option('segments', { type: 'string', demandOption: true, describe: 'The directory the gateway records into' })
      .option('public-key', { type: 'string', describe: 'The gateway\'s segment signing public key (PEM)' })
      .option('config', { type: 'string', describe: 'Take the public key from this gateway config (recording.public_key_file)' })
      .option('allow-open', { type: 'boolean', default: false, describe: 'Accept an unsealed last segment (a gateway still running)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the report as JSON' }) as never,
  handler: async (args) => {
    let key;
    try {
      key = await loadPublicKey(await publicKeyPath(args));
    } catch (err) {
      if (err instanceof KeyError) throw new CliError(err.message);
      throw err;
    }
    let report: DirectoryReport;
    try {
      report = await verifyDirectory(resolve(args.segments), key, { allowOpen: args['allow-open'] });
    } catch (err) {
      throw new CliError(`cannot read ${args.segments}: ${(err as Error).message}`);
    }
    if (args.json) {
      const { segments, ...rest } = report;
      const out = { ...rest, segments: segments.map((s) => ({ name: s.file.name, records: s.records, first_seq: s.firstSeq, last_seq: s.lastSeq, sealed: s.seal !== null, sha256: s.segmentSha256, findings: s.findings.map((f) => f.code) })), ok: report.findings.length === 0 };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else process.stdout.write(formatReport(report));
    process.exitCode = report.findings.length ? 1 : 0;
  },
};
