// Exports the evidence database as Parquet files that DuckDB, Trino, Spark and Athena read as
// they are: one directory per table, partitioned Hive style by the UTC date of the table's time
// column (`records/date=2025-03-03/data_0.parquet`), and export-manifest.json listing every file
// with its sha256, size and row count. DuckDB writes the files itself (COPY ... TO, its own
// threads): no row passes through JavaScript. docs/operations.md describes the layout, the
// types and how each engine reads it.
//
// Which rows go where (every partition an export writes holds ALL of that date's rows the
// database had, so exports of different windows can be copied into one place, a later one
// replacing a date's files with a fuller version, never with a part of them):
//   - records and the views flattened from them (sessions, statements, ...): partitioned by the
//     UTC date of their time column; --from/--to select dates.
//   - entitlement snapshots and directory imports: partitioned by snapshot (import) date; the
//     window reaches back to the day of the last snapshot (import) before --from, the one in
//     force when the window starts, so access can be judged against it.
//   - segments, verification_runs, verification_results: small (one row per segment, run,
//     finding), one unpartitioned file each, always whole: a later export is a superset.
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { packageVersion } from '../policies/locations.js';
import { EvidenceDbError, openEvidenceDb, type EvidenceDb } from './evidence-db.js';
import { SCHEMA_PARTS } from './schema/index.js';
import { sha256File } from './file-digest.js';
import { sqlLiteral } from './query.js';

export const EXPORT_MANIFEST = 'export-manifest.json';
export const EXPORT_FORMAT = 'auditgate-parquet-export';
export const EXPORT_FORMAT_VERSION = 1;
/** The Hive partition key: a directory level `date=YYYY-MM-DD`, not a column inside the files. */
export const PARTITION_COLUMN = 'date';
const COMPRESSION = 'zstd';
const DATA_FILE = 'data_0.parquet';

/**
 * usage: the command line or the output directory is wrong (exit 2); source: the database cannot
 * be exported (exit 1); failed: writing the export failed part way (exit 1, nothing left behind).
 */
export class ExportError extends Error {
  override name = 'ExportError';
  constructor(
    message: string,
    readonly kind: 'usage' | 'source' | 'failed',
  ) {
    super(message);
  }
}

interface ReachBack {
  table: string;
  time: string;
}

export interface ExportTable {
  /** Source table or view, and the export's directory. */
  name: string;
  /** SQL for the timestamp whose UTC date partitions a row; absent: one file, the whole table. */
  time?: string;
  /** The time column, as the manifest names it. */
  partitionedBy?: string;
  /** FROM clause; the exported columns are those of `s`. */
  from?: string;
  /** Snapshot-like tables: --from reaches back to the day of the last snapshot before it. */
  reachBack?: ReachBack;
}

const SNAPSHOTS: ReachBack = { table: 'entitlement_snapshots', time: 'taken_at' };
const IMPORTS: ReachBack = { table: 'directory_imports', time: 'imported_at' };
const byTs = (name: string): ExportTable => ({ name, time: 's.ts', partitionedBy: 'ts' });
const bySnapshot = (name: string): ExportTable => ({ name, time: 's.snapshot_at', partitionedBy: 'snapshot_at', reachBack: SNAPSHOTS });

/** What an export holds, in this order. docs/operations.md has the same list. */
export const EXPORT_TABLES: readonly ExportTable[] = [
  byTs('records'),
  { name: 'sessions', time: 's.started_at', partitionedBy: 'started_at' },
  byTs('statements'),
  byTs('statement_tables'),
  byTs('masking_events'),
  byTs('detector_events'),
  byTs('approvals'),
  { name: 'segments' },
  { name: 'verification_runs' },
  { name: 'verification_results' },
  { name: 'entitlement_snapshots', time: 's.taken_at', partitionedBy: 'taken_at', reachBack: SNAPSHOTS },
  bySnapshot('ent_roles'),
  bySnapshot('ent_memberships'),
  bySnapshot('ent_privileges'),
  bySnapshot('ent_default_privileges'),
  bySnapshot('ent_rls_policies'),
  { name: 'directory_imports', time: 's.imported_at', partitionedBy: 'imported_at', reachBack: IMPORTS },
  {
    name: 'directory_identities',
    time: 'i.imported_at',
    partitionedBy: 'directory_imports.imported_at',
    from: 'directory_identities s JOIN directory_imports i ON i.import_id = s.import_id',
    reachBack: IMPORTS,
  },
];

// ---- types ---------------------------------------------------------------------------------

// Parquet types every engine we target reads the same way: DuckDB writes VARCHAR as UTF8
// strings, BLOB as plain binary, TIMESTAMPTZ as INT64 TIMESTAMP(MICROS, adjusted to UTC), lists
// as the standard 3-level LIST. JSON would be written with Parquet's JSON annotation, which not
// every reader knows: it goes out as its text. A type outside this list stops the export
// (rather than writing something an engine reads differently) until a mapping is chosen.
const PORTABLE = new Set(['VARCHAR', 'BIGINT', 'INTEGER', 'SMALLINT', 'BOOLEAN', 'DOUBLE', 'FLOAT', 'BLOB', 'DATE', 'TIMESTAMP WITH TIME ZONE']);

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The select-list item that writes `column` (of type `type`, as DESCRIBE spells it) portably. */
export function portableColumn(table: string, column: string, type: string): string {
  const ref = `s.${ident(column)}`;
  const base = type.replace(/(\[\])+$/, '');
  const dims = type.slice(base.length);
  if (base === 'JSON') return `CAST(${ref} AS VARCHAR${dims}) AS ${ident(column)}`;
  if (PORTABLE.has(base)) return ref;
  throw new ExportError(`${table}.${column} is ${type}, which auditgate has no portable Parquet mapping for: the export would not read back the same in every engine`, 'source');
}

// ---- the window ----------------------------------------------------------------------------

/** A UTC calendar day, YYYY-MM-DD. */
export function parseDay(text: string, flag: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
  if (!m || !d || d.toISOString().slice(0, 10) !== text) throw new ExportError(`${flag} ${JSON.stringify(text)} is not a date: write YYYY-MM-DD (a UTC day)`, 'usage');
  return text;
}

const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
const dayStart = (day: string) => `TIMESTAMPTZ '${day} 00:00:00+00'`;
const utcDay = (expr: string) => `CAST(timezone('UTC', ${expr}) AS DATE)`;

// ---- the manifest --------------------------------------------------------------------------

export interface ExportedFile {
  /** Relative to the export directory, with forward slashes. */
  path: string;
  table: string;
  /** The partition's date; null for an unpartitioned table. */
  date: string | null;
  sha256: string;
  bytes: number;
  rows: number;
}

export interface ExportedTable {
  name: string;
  /** The column whose UTC date is the partition; null: one file holding the whole table. */
  partitioned_by: string | null;
  /** The dates selected (inclusive); null: unbounded. */
  from: string | null;
  to: string | null;
  rows: number;
  /** Partitions written (dates with rows); null for an unpartitioned table. */
  dates: number | null;
  files: number;
  bytes: number;
}

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  version: number;
  tool: 'auditgate';
  tool_version: string;
  exported_at: string;
  source: {
    path: string;
    sha256: string;
    bytes: number;
    /** The write-ahead log beside the database, when there was one (its records are exported too). */
    wal: { sha256: string; bytes: number } | null;
    schema: Record<string, number>;
  };
  window: { from: string | null; to: string | null; time_zone: 'UTC' };
  layout: { style: 'hive'; partition_column: typeof PARTITION_COLUMN; compression: string };
  tables: ExportedTable[];
  files: ExportedFile[];
}

// ---- the export ----------------------------------------------------------------------------

export interface ExportOptions {
  db: string;
  out: string;
  /** First and last UTC day (inclusive) of records to export; absent: unbounded. */
  from?: string;
  to?: string;
  /** Replace an earlier export in `out` (only one: a directory without its manifest is refused). */
  force?: boolean;
  onTable?: (table: ExportedTable, seconds: number) => void;
  now?: () => Date;
}

export interface ExportResult {
  outDir: string;
  manifestPath: string;
  manifest: ExportManifest;
  seconds: number;
}

export async function exportParquet(opts: ExportOptions): Promise<ExportResult> {
  const started = performance.now();
  const from = opts.from === undefined ? null : parseDay(opts.from, '--from');
  const to = opts.to === undefined ? null : parseDay(opts.to, '--to');
  if (from && to && from > to) throw new ExportError(`--from ${from} is after --to ${to}`, 'usage');
  const dbPath = resolve(opts.db);
  const outDir = resolve(opts.out);

  const dbStat = await stat(dbPath).catch(() => null);
  if (!dbStat) throw new ExportError(`no evidence database at ${dbPath}`, 'usage');
  if (!dbStat.isFile()) throw new ExportError(`${dbPath} is not a file: name the evidence database (DuckDB file)`, 'usage');

  let db: EvidenceDb;
  try {
    db = await openEvidenceDb(dbPath, { readOnly: true });
  } catch (err) {
    throw new ExportError(err instanceof EvidenceDbError ? err.message : `cannot open ${dbPath}: ${(err as Error).message}`, 'source');
  }
  const created: string[] = [];
  try {
    const c = db.connection;
    const schema = await checkSchema(c, dbPath);
    // Read-only, so no other process can write while the export runs; the hash is of the
    // bytes the export read (computed while DuckDB writes, on its own threads).
    const sourceHash = Promise.all([sha256File(dbPath), sha256File(`${dbPath}.wal`).catch(() => null)]);
    sourceHash.catch(() => {}); // awaited below; an earlier failure must not leave it unhandled
    await prepareOut(outDir, opts.force ?? false);

    await c.run(`SET TimeZone = 'UTC'`);
    await c.run('BEGIN TRANSACTION'); // one snapshot for every table
    const tables: ExportedTable[] = [];
    const files: ExportedFile[] = [];
    for (const table of EXPORT_TABLES) {
      const t0 = performance.now();
      const dir = join(outDir, table.name);
      created.push(dir);
      const written = await exportTable(c, table, dir, from, to);
      const entries = await Promise.all(written.files.map(async (w) => describeFile(outDir, table.name, w)));
      files.push(...entries);
      const summary: ExportedTable = {
        name: table.name,
        partitioned_by: table.partitionedBy ?? null,
        from: table.time ? written.from : null,
        to: table.time ? to : null,
        rows: entries.reduce((n, e) => n + e.rows, 0),
        dates: table.time ? new Set(entries.map((e) => e.date)).size : null,
        files: entries.length,
        bytes: entries.reduce((n, e) => n + e.bytes, 0),
      };
      tables.push(summary);
      opts.onTable?.(summary, (performance.now() - t0) / 1000);
    }
    await c.run('COMMIT');

    const [source, wal] = await sourceHash;
    const manifest: ExportManifest = {
      format: EXPORT_FORMAT,
      version: EXPORT_FORMAT_VERSION,
      tool: 'auditgate',
      tool_version: packageVersion(),
      exported_at: (opts.now?.() ?? new Date()).toISOString(),
      source: { path: dbPath, sha256: source.sha256, bytes: source.bytes, wal, schema },
      window: { from, to, time_zone: 'UTC' },
      layout: { style: 'hive', partition_column: PARTITION_COLUMN, compression: COMPRESSION },
      tables,
      files: files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    };
    // Last, and atomically: an export directory without its manifest is an incomplete export.
    const manifestPath = join(outDir, EXPORT_MANIFEST);
    await writeFile(`${manifestPath}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
    await rename(`${manifestPath}.tmp`, manifestPath);
    return { outDir, manifestPath, manifest, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    // Leave nothing that could pass for an export.
    for (const dir of created) await rm(dir, { recursive: true, force: true }).catch(() => {});
    await rm(join(outDir, `${EXPORT_MANIFEST}.tmp`), { force: true }).catch(() => {});
    if (err instanceof ExportError) throw err;
    throw new ExportError(`the export into ${outDir} failed: ${(err as Error).message}`, 'failed');
  } finally {
    db.close();
  }
}

/** The database must be an auditgate evidence database whose schema this version knows exactly. */
async function checkSchema(c: DuckDBConnection, dbPath: string): Promise<Record<string, number>> {
  let rows;
  try {
    rows = (await c.runAndReadAll('SELECT part, version FROM schema_parts ORDER BY part')).getRowObjects();
  } catch {
    throw new ExportError(`${dbPath} is not an auditgate evidence database (it has no schema_parts table)`, 'source');
  }
  const have = new Map(rows.map((r) => [String(r.part), Number(r.version)]));
  for (const part of SCHEMA_PARTS) {
    const v = have.get(part.name);
    if (v === undefined || v < part.version) {
      throw new ExportError(
        `${dbPath} has ${v === undefined ? 'no' : `version ${v} of the`} ${part.name} schema${v === undefined ? '' : `, older than this auditgate's (${part.version})`}: ` +
          'run a collect with this auditgate once to bring it up to date (export opens the database read-only)',
        'source',
      );
    }
    if (v > part.version) throw new ExportError(`${dbPath}'s ${part.name} schema is version ${v}, newer than this auditgate knows (${part.version}): upgrade auditgate`, 'source');
  }
  return Object.fromEntries(have);
}

/** An empty (or new) directory; with force, one holding an earlier export, whose files go. */
async function prepareOut(outDir: string, force: boolean): Promise<void> {
  const st = await stat(outDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new ExportError(`cannot use ${outDir} as the export directory: ${err.message}`, 'usage');
  });
  if (st && !st.isDirectory()) throw new ExportError(`${outDir} exists and is not a directory`, 'usage');
  if (!st) {
    await mkdir(outDir, { recursive: true }).catch((err: Error) => {
      throw new ExportError(`cannot create the export directory ${outDir}: ${err.message}`, 'usage');
    });
  }
  const entries = await readdir(outDir);
  if (entries.length) {
    if (!force) throw new ExportError(`${outDir} is not empty: export into a new or empty directory, or pass --force to replace the export in it`, 'usage');
    if (!entries.includes(EXPORT_MANIFEST)) {
      throw new ExportError(`${outDir} is not empty and holds no ${EXPORT_MANIFEST}: --force replaces an earlier export, it does not delete other files`, 'usage');
    }
    const old = new Set(EXPORT_TABLES.map((t) => t.name));
    try {
      const m = JSON.parse(await readFile(join(outDir, EXPORT_MANIFEST), 'utf8')) as { tables?: { name?: unknown }[] };
      for (const t of m.tables ?? []) if (typeof t.name === 'string' && /^[a-z_][a-z0-9_]*$/.test(t.name)) old.add(t.name);
    } catch {
      // An unreadable manifest: the directories this version writes are still removed.
    }
    // The manifest first: a crash part way must not leave it describing files that are gone.
    await rm(join(outDir, EXPORT_MANIFEST), { force: true });
    for (const name of old) await rm(join(outDir, name), { recursive: true, force: true });
  }
  await access(outDir, constants.W_OK).catch(() => {
    throw new ExportError(`cannot write to the export directory ${outDir}`, 'usage');
  });
}

interface WrittenFile {
  filename: string;
  rows: number;
}

/** Writes one table; returns the files DuckDB wrote and the first date selected. */
async function exportTable(c: DuckDBConnection, table: ExportTable, dir: string, from: string | null, to: string | null): Promise<{ files: WrittenFile[]; from: string | null }> {
  const source = table.from ?? `${ident(table.name)} s`;
  const described = (await c.runAndReadAll(`DESCRIBE SELECT s.* FROM ${source}`)).getRowObjects();
  const columns = described.map((r) => portableColumn(table.name, String(r.column_name), String(r.column_type)));
  const options = `FORMAT parquet, COMPRESSION ${COMPRESSION}, RETURN_STATS`;

  let sql: string;
  let first = from;
  if (!table.time) {
    await mkdir(dir);
    sql = `COPY (SELECT ${columns.join(', ')} FROM ${source}) TO ${sqlLiteral(join(dir, DATA_FILE))} (${options})`;
  } else {
    if (described.some((r) => String(r.column_name) === PARTITION_COLUMN)) {
      throw new ExportError(`${table.name} has a column named ${PARTITION_COLUMN}, the partition key's name`, 'source');
    }
    if (from && table.reachBack) {
      // The snapshot in force when the window starts: the last one taken before it.
      const rb = table.reachBack;
      const r = await c.runAndReadAll(`SELECT strftime(${utcDay(`max(${ident(rb.time)})`)}, '%Y-%m-%d') AS d FROM ${ident(rb.table)} WHERE ${ident(rb.time)} < ${dayStart(from)}`);
      const d = r.getRowObjects()[0]?.d;
      if (typeof d === 'string' && d < from) first = d;
    }
    const where = [first ? `${table.time} >= ${dayStart(first)}` : null, to ? `${table.time} < ${dayStart(nextDay(to))}` : null].filter(Boolean);
    sql =
      `COPY (SELECT ${columns.join(', ')}, ${utcDay(table.time)} AS ${PARTITION_COLUMN} FROM ${source}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}) ` +
      `TO ${sqlLiteral(dir)} (${options}, PARTITION_BY (${PARTITION_COLUMN}), FILENAME_PATTERN 'data_{i}')`;
  }
  const stats = (await c.runAndReadAll(sql)).getRowObjects();
  return { files: stats.map((s) => ({ filename: String(s.filename), rows: Number(s.count) })), from: first };
}

async function describeFile(outDir: string, table: string, w: WrittenFile): Promise<ExportedFile> {
  const { sha256, bytes } = await sha256File(w.filename);
  const path = relative(outDir, w.filename).split(sep).join('/');
  const date = /(?:^|\/)date=(\d{4}-\d{2}-\d{2})\//.exec(path)?.[1] ?? null;
  return { path, table, date, sha256, bytes, rows: w.rows };
}

