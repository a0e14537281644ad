// `auditgate export parquet --db evidence.duckdb --out DIR [--from D] [--to D] [--force]`: the
// evidence as date-partitioned Parquet for engines beyond one machine (collectors/export-parquet.ts;
// docs/operations.md). On a terminal, one line per table goes to stderr as it is written; the
// summary goes to stdout. Exit status: 0 exported; 1 the database cannot be exported (not an
// evidence database, a schema this version does not know) or writing failed (nothing is left
// behind); 2 a usage or setup problem (no such database, a non-empty --out, a bad date).
import type { Argv, CommandModule } from 'yargs';
import { ExportError, exportParquet, type ExportedTable, type ExportResult } from '../../collectors/export-parquet.js';
import { CliError } from '../errors.js';

export interface ExportParquetArgs {
  db: string;
  out: string;
  from?: string;
  to?: string;
  force?: boolean;
}

export interface ExportOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Print a line per table as it is written (a terminal). */
  progress: boolean;
}

const processOutput = (): ExportOutput => ({
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  progress: process.stderr.isTTY === true,
});

const n = (x: number) => x.toLocaleString('en-US');

export function formatBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = b / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** One progress line: the table, its rows, how it was partitioned and what it took. */
export function formatTableLine(t: ExportedTable, seconds: number): string {
  const where = t.dates === null ? 'whole table' : `${n(t.dates)} date${t.dates === 1 ? '' : 's'} by ${t.partitioned_by}`;
  return `  ${t.name.padEnd(24)} ${n(t.rows).padStart(13)} rows  ${where.padEnd(40)} ${formatBytes(t.bytes).padStart(10)}  ${seconds.toFixed(2)} s\n`;
}

export function formatSummary(r: ExportResult, db: string): string {
  const m = r.manifest;
  const rows = m.tables.reduce((x, t) => x + t.rows, 0);
  const bytes = m.files.reduce((x, f) => x + f.bytes, 0);
  const window = m.window.from || m.window.to ? ` (${m.window.from ?? 'start'} to ${m.window.to ?? 'end'}, UTC)` : '';
  return `exported ${n(rows)} rows of ${m.tables.length} tables${window} from ${db} to ${r.outDir}: ${n(m.files.length)} files, ${formatBytes(bytes)} in ${r.seconds.toFixed(2)} s; manifest ${r.manifestPath}\n`;
}

export async function runExportParquet(args: ExportParquetArgs, out: ExportOutput = processOutput()): Promise<ExportResult> {
  if (out.progress) out.stderr(`exporting ${args.db} to ${args.out}\n`);
  try {
    const r = await exportParquet({
      db: args.db,
      out: args.out,
      ...(args.from !== undefined ? { from: args.from } : {}),
      ...(args.to !== undefined ? { to: args.to } : {}),
      force: args.force ?? false,
      ...(out.progress ? { onTable: (t: ExportedTable, s: number) => out.stderr(formatTableLine(t, s)) } : {}),
    });
    out.stdout(formatSummary(r, args.db));
    return r;
  } catch (err) {
    if (err instanceof ExportError) throw new CliError(err.message, err.kind === 'usage' ? 2 : 1);
    throw err;
  }
}

const parquetCommand: CommandModule<object, ExportParquetArgs> = {
  command: 'parquet',
  describe: 'Write the evidence as Parquet files partitioned by UTC date (Hive layout) with a manifest of their hashes, for DuckDB, Trino, Spark or Athena',
  builder: (y) =>
    y
      .option('db', { type: 'string', demandOption: true, describe: 'The evidence database (DuckDB file), opened read-only' })
      .option('out', { type: 'string', demandOption: true, describe: 'The export directory: new or empty (or an earlier export, with --force)' })
      .option('from', { type: 'string', describe: 'First UTC day of records to export (YYYY-MM-DD); default: the first' })
      .option('to', { type: 'string', describe: 'Last UTC day of records to export (YYYY-MM-DD, inclusive); default: the last' })
      .option('force', { type: 'boolean', default: false, describe: 'Replace the earlier export in --out (a directory without export-manifest.json is never touched)' })
      .example('$0 export parquet --db evidence.duckdb --out /srv/exports/auditgate', '')
      .example('$0 export parquet --db evidence.duckdb --out /tmp/auditgate-day --from 2025-03-03 --to 2025-03-03 --force', '') as unknown as Argv<ExportParquetArgs>,
  handler: async (args) => {
    await runExportParquet(args);
  },
};

export const exportCommand: CommandModule = {
  command: 'export',
  describe: 'Export the evidence database for other engines (parquet)',
  builder: (y) => y.command(parquetCommand as unknown as CommandModule).demandCommand(1, 'Name a format: parquet'),
  handler: () => {},
};
