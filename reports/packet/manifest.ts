// manifest.json: every file in the packet (but the manifest and its signature) with its
// sha256, size and, for CSV, its data row count. Sorted by path so it is reproducible.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { CsvRecordCounter } from './hash.js';

export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.intoto.json';
/** Files the manifest does not list (it cannot list itself or its signature). */
export const UNLISTED = new Set([MANIFEST_FILE, SIGNATURE_FILE]);

export interface ManifestEntry {
  path: string;
  sha256: string;
  bytes: number;
  /** Data rows (after the header), for CSV files. */
  rows?: number;
}

export interface Manifest {
  manifest_version: 1;
  files: ManifestEntry[];
}

/** Every regular file under dir, as forward-slash paths relative to it, sorted. Symlinks and other non-files are returned in `other`. */
export async function listPacketFiles(dir: string): Promise<{ files: string[]; other: string[] }> {
  const files: string[] = [];
  const other: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const rel = relative(dir, join(e.parentPath, e.name)).split(sep).join('/');
    if (e.isFile()) files.push(rel);
    else if (!e.isDirectory()) other.push(rel);
  }
  const byPath = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return { files: files.sort(byPath), other: other.sort(byPath) };
}

/** sha256, size and (CSV) data rows of a packet file, in one streaming pass: files may be gigabytes. */
export async function describeFile(dir: string, path: string): Promise<ManifestEntry> {
  const full = join(dir, ...path.split('/'));
  const h = createHash('sha256');
  const rows = path.toLowerCase().endsWith('.csv') ? new CsvRecordCounter() : null;
  let bytes = 0;
  for await (const chunk of createReadStream(full, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    rows?.feed(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  const entry: ManifestEntry = { path, sha256: h.digest('hex'), bytes };
  if (rows) entry.rows = rows.dataRows();
  return entry;
}

/**
 * The manifest of every file in dir. `known`: files already described as they were written
 * (a COPY's CSV: its sha256 was taken then, its rows are the COPY's row count), so a
 * population of gigabytes is not read twice; taken only while the file still has that size.
 */
export async function buildManifest(dir: string, known: ReadonlyMap<string, ManifestEntry> = new Map()): Promise<Manifest> {
  const { files } = await listPacketFiles(dir);
  const entries: ManifestEntry[] = [];
  for (const f of files) {
    if (UNLISTED.has(f)) continue;
    const k = known.get(f);
    entries.push(k && (await stat(join(dir, ...f.split('/')))).size === k.bytes ? { ...k, path: f } : await describeFile(dir, f));
  }
  return { manifest_version: 1, files: entries };
}

export const serializeManifest = (m: Manifest): string => `${JSON.stringify(m, null, 2)}\n`;
