// `auditgate collect --segments DIR --db evidence.duckdb --public-key KEY`: verify recorded
// segments and land the ones that verify (collectors/land-segments.ts). Its subcommands land
// the other evidence: `collect entitlements` (the PostgreSQL catalog's grants) and
// `collect identities` (the IdP's directory export). The summary goes to stdout; the progress
// bar to stderr, and only on a terminal. Exit status: 0 when everything present landed (or
// was landed before, or is still being written), 1 when a segment failed verification or
// could not be landed, 2 for a usage or setup problem.
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { EvidenceDbError, openEvidenceDb } from '../../collectors/evidence-db.js';
import { CollectError, collectSegments, type CollectProgress, type CollectResult } from '../../collectors/land-segments.js';
import { loadConfig } from '../../proxy/config/load.js';
import { KeyError, loadPublicKey } from '../../proxy/recorder/keys.js';
import { CliError } from '../errors.js';
import { collectEntitlementsCommand } from './collect-entitlements.js';
import { collectIdentitiesCommand } from './collect-identities.js';

export interface CollectArgs {
  segments?: string;
  db?: string;
  'public-key'?: string;
  config?: string;
  'allow-open'?: boolean;
}

export interface CollectSegmentsOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** A progress bar on stderr (a terminal): its width, or null for none. */
  progressColumns: number | null;
}

const processOutput = (): CollectSegmentsOutput => ({
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  progressColumns: process.stderr.isTTY ? process.stderr.columns || 80 : null,
});

const n = (x: number) => x.toLocaleString('en-US');
const plural = (x: number, w: string) => `${n(x)} ${w}${x === 1 ? '' : 's'}`;

/** A one-line progress bar, redrawn at most every 100 ms. */
export function progressBar(write: (t: string) => void, columns: number): { update(p: CollectProgress): void; clear(): void } {
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 100 && p.segmentsDone < p.segmentsTotal) return;
      last = now;
      const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : p.segmentsTotal > 0 ? p.segmentsDone / p.segmentsTotal : 1;
      const width = 24;
      const full = Math.round(frac * width);
      const text = `collect [${'█'.repeat(full)}${'░'.repeat(width - full)}] ${String(Math.round(frac * 100)).padStart(3)}%  ${p.segmentsDone}/${p.segmentsTotal} segments  ${n(p.recordsLanded)} records landed${p.current ? `  ${p.current}` : ''}`;
      write(`\r${text.slice(0, Math.max(20, columns - 1))}\x1b[K`);
      drawn = true;
    },
    clear() {
      if (drawn) write('\r\x1b[K');
    },
  };
}

async function publicKeyPath(args: CollectArgs): Promise<string> {
  if (args['public-key']) return resolve(args['public-key']);
  if (args.config) return (await loadConfig(args.config)).recording.public_key_file;
  throw new CliError('name the segment signing public key: --public-key FILE (or --config auditgate.yaml to use the one the gateway publishes)');
}

export function formatCollectResult(r: CollectResult, db: string): string {
  const lines = [`collected ${r.directory} into ${db} (run ${r.runId})`];
  const gateways = [...new Set(r.landed.map((s) => s.gatewayId))];
  for (const g of gateways) {
    const segs = r.landed.filter((s) => s.gatewayId === g);
    const seqs = segs.flatMap((s) => (s.firstSeq === null ? [] : [s.firstSeq, s.lastSeq!]));
    lines.push(`  landed          ${g}: ${plural(segs.length, 'segment')}, ${plural(segs.reduce((x, s) => x + s.records, 0), 'record')}${seqs.length ? ` (sequence ${Math.min(...seqs)}-${Math.max(...seqs)})` : ''}`);
  }
  if (!r.landed.length) lines.push('  landed          nothing new');
  if (r.alreadyLanded.length) lines.push(`  already landed  ${plural(r.alreadyLanded.length, 'segment')} (skipped)`);
  for (const f of r.findings.filter((x) => x.code === 'open')) lines.push(`  still open      ${f.segment}: ${f.message}`);
  for (const f of r.findings.filter((x) => x.severity === 'note' && x.code !== 'open')) lines.push(`  note            ${f.segment ?? '-'}: ${f.message}`);
  for (const f of r.findings.filter((x) => x.severity === 'warning')) lines.push(`  WARNING         ${f.segment ?? '-'}: ${f.code}: ${f.message}`);
  for (const f of r.findings.filter((x) => x.severity === 'error')) lines.push(`  FAIL            ${f.segment ?? '-'}: ${f.code}: ${f.message}`);
  const rate = r.seconds > 0 && r.recordsLanded > 0 ? ` (${n(Math.round(r.recordsLanded / r.seconds))} records/s)` : '';
  lines.push(`verified ${plural(r.landed.length + r.rejected.length, 'segment')} and landed ${plural(r.recordsLanded, 'record')} in ${r.seconds.toFixed(2)} s${rate}; verifying took ${r.verifySeconds.toFixed(2)} s`);
  if (r.rejected.length) {
    lines.push(`${plural(r.rejected.length, 'segment')} failed verification or landing and ${r.rejected.length === 1 ? 'was' : 'were'} NOT landed: ${r.rejected.join(', ')}`);
    lines.push(`  the findings are in verification_results (run_id = '${r.runId}'); the integrity view sums them up per gateway`);
  } else if (!r.ok) lines.push(`verification failed: see verification_results (run_id = '${r.runId}')`);
  return `${lines.join('\n')}\n`;
}

export async function runCollect(args: CollectArgs, out: CollectSegmentsOutput = processOutput()): Promise<CollectResult> {
  if (!args.segments) throw new CliError('--segments DIR is required: the directory the gateway records into (or run `auditgate collect entitlements|identities`)');
  if (!args.db) throw new CliError('--db FILE is required: the evidence database (DuckDB file; created if missing)');
  let key;
  try {
    key = await loadPublicKey(await publicKeyPath(args));
  } catch (err) {
    if (err instanceof KeyError) throw new CliError(err.message);
    throw err;
  }
  let db;
  try {
    db = await openEvidenceDb(args.db);
  } catch (err) {
    throw new CliError((err as Error).message, err instanceof EvidenceDbError ? 1 : 2);
  }
  const bar = out.progressColumns !== null ? progressBar(out.stderr, out.progressColumns) : null;
  let result: CollectResult;
  try {
    result = await collectSegments({ directory: resolve(args.segments), db, publicKey: key, ...(bar ? { onProgress: (p: CollectProgress) => bar.update(p) } : {}) });
  } catch (err) {
    if (err instanceof CollectError) throw new CliError(err.message, 1);
    throw err;
  } finally {
    bar?.clear();
    db.close();
  }
  out.stdout(formatCollectResult(result, args.db));
  return result;
}

export const collectCommand: CommandModule<object, CollectArgs> = {
  command: 'collect',
  describe: 'Verify recorded segments and land them in the evidence database (DuckDB), once; subcommands land entitlements and identities',
  builder: (y) =>
    y
      .command(collectEntitlementsCommand as unknown as CommandModule)
      .command(collectIdentitiesCommand as unknown as CommandModule)
      // Not demandOption: the subcommands take their own flags.
      .option('segments', { type: 'string', global: false, describe: 'The directory the gateway records into' })
      .option('db', { type: 'string', global: false, describe: 'The evidence database (DuckDB file; created if missing)' })
      .option('public-key', { type: 'string', global: false, describe: 'The gateway\'s segment signing public key (PEM)' })
      .option('config', { type: 'string', global: false, describe: 'Take the public key from this gateway config (recording.public_key_file)' })
      .option('allow-open', {
        type: 'boolean',
        default: false,
        global: false,
        describe: 'Accepted for symmetry with verify-log: collect always skips a gateway\'s unsealed last segment (it is still being written), says so, and lands it once sealed',
      })
      .example('$0 collect --segments /var/lib/auditgate/segments --db evidence.duckdb --public-key segment-signing.pub.pem', '')
      .example('$0 collect entitlements --postgres postgres://auditor@db/app --db evidence.duckdb', '') as unknown as Argv<CollectArgs>,
  handler: async (args) => {
    const r = await runCollect(args);
    process.exitCode = r.ok ? 0 : 1;
  },
};
