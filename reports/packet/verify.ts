// `auditgate verify PACKET`: checks an evidence packet offline. The signature over the
// manifest, every file's sha256, size and row count, that nothing was added or removed, and
// (with the evidence database) that every query still gives the result it recorded.
import { type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatResult } from '../../collectors/query.js';
import { openEvidenceDb } from '../../collectors/evidence-db.js';
import { keyIdOf, loadPublicKey } from '../../proxy/recorder/keys.js';
import { verifyEnvelope } from './dsse.js';
import { csvDataRows, resultSha256, sha256File, sha256Hex } from './hash.js';
import { describeFile, listPacketFiles, MANIFEST_FILE, SIGNATURE_FILE, UNLISTED, type ManifestEntry } from './manifest.js';
import { copyCsvSha256 } from './copy-query.js';
import { executePacketQuery, isSafeRelativePath, PACKET_SESSION_SETUP, type QueryMeta } from './query-file.js';
import { GENERATION_FILE, PUBLIC_KEY_FILE } from './write.js';
import { extractPacketZip, ZipError } from './zip.js';

export type FindingCode =
  | 'bad_zip_entry'
  | 'missing_manifest'
  | 'malformed_manifest'
  | 'missing_signature'
  | 'malformed_envelope'
  | 'bad_signature'
  | 'foreign_key'
  | 'no_trusted_key'
  | 'manifest_changed'
  | 'bad_path'
  | 'missing_file'
  | 'changed_file'
  | 'extra_file'
  | 'row_count_mismatch'
  | 'malformed_query_meta'
  | 'no_query'
  | 'query_failed'
  | 'query_result_changed'
  | 'csv_differs_from_query';

export interface Finding {
  code: FindingCode;
  path?: string;
  message: string;
}

export interface PacketReport {
  packet: string;
  ok: boolean;
  /** Key id of the key the signature was checked against. */
  keyId: string | null;
  /** 'given': --public-key; 'embedded': the packet's own copy (integrity, not origin). */
  trust: 'given' | 'embedded' | 'none';
  files: number;
  queries: number;
  /** Queries re-run against --db (0 without it). */
  rerun: number;
  findings: Finding[];
  notes: string[];
}

export interface VerifyOptions {
  /** The trusted signer's key; without it the packet's own copy is used, which proves integrity but not origin. */
  publicKey?: KeyObject;
  /** The evidence database: re-run every query and compare result hashes. */
  dbPath?: string;
}

/** The packet cannot be read at all (not a folder): a usage problem, not a finding. */
export class PacketError extends Error {}

async function readOptional(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function isEntry(e: unknown): e is ManifestEntry {
  const o = e as ManifestEntry;
  return !!o && typeof o.path === 'string' && typeof o.sha256 === 'string' && typeof o.bytes === 'number' && (o.rows === undefined || typeof o.rows === 'number');
}

function isMeta(m: unknown): m is QueryMeta {
  const o = m as QueryMeta;
  return (
    !!o &&
    typeof o.id === 'string' &&
    typeof o.sql_file === 'string' &&
    typeof o.row_count === 'number' &&
    typeof o.result_sha256 === 'string' &&
    Array.isArray(o.outputs) &&
    o.outputs.every((x) => typeof x === 'string') &&
    (o.parameters === undefined || (typeof o.parameters === 'object' && o.parameters !== null))
  );
}

export async function verifyPacket(dir: string, opts: VerifyOptions = {}): Promise<PacketReport> {
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    throw new PacketError(`cannot read the packet ${dir}: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new PacketError(`${dir} is not a folder`);
  const findings: Finding[] = [];
  const notes: string[] = [];
  const report: PacketReport = { packet: dir, ok: false, keyId: null, trust: 'none', files: 0, queries: 0, rerun: 0, findings, notes };
  const add = (code: FindingCode, message: string, path?: string) => findings.push({ code, message, ...(path !== undefined ? { path } : {}) });

  // The manifest and its signature.
  const manifestBytes = await readOptional(join(dir, MANIFEST_FILE));
  let entries: ManifestEntry[] = [];
  if (!manifestBytes) add('missing_manifest', `${MANIFEST_FILE} is missing: nothing can be checked`, MANIFEST_FILE);
  else {
    try {
      const m = JSON.parse(manifestBytes.toString('utf8')) as { files?: unknown };
      if (!Array.isArray(m.files) || !m.files.every(isEntry)) throw new Error('no files list of {path, sha256, bytes, rows?}');
      entries = m.files;
    } catch (err) {
      add('malformed_manifest', `${MANIFEST_FILE} is not a packet manifest: ${(err as Error).message}`, MANIFEST_FILE);
    }
  }

  let key = opts.publicKey;
  if (key) report.trust = 'given';
  else {
    const embedded = join(dir, PUBLIC_KEY_FILE);
    try {
      key = await loadPublicKey(embedded);
      report.trust = 'embedded';
      notes.push(
        `no --public-key: the signature was checked against the key inside the packet (${PUBLIC_KEY_FILE}, key id ${keyIdOf(key)}). ` +
          'That shows the packet is intact as signed, not who signed it: pass the operator\'s published key with --public-key.',
      );
    } catch {
      add('no_trusted_key', `no --public-key given and the packet has no readable ${PUBLIC_KEY_FILE}: the signature cannot be checked`);
    }
  }
  if (key) report.keyId = keyIdOf(key);

  const envelopeBytes = await readOptional(join(dir, SIGNATURE_FILE));
  if (!envelopeBytes) add('missing_signature', `${SIGNATURE_FILE} is missing: the manifest is unsigned`, SIGNATURE_FILE);
  else {
    let env: unknown = null;
    try {
      env = JSON.parse(envelopeBytes.toString('utf8'));
    } catch {
      add('malformed_envelope', `${SIGNATURE_FILE} is not JSON`, SIGNATURE_FILE);
    }
    if (env !== null && key) {
      const check = verifyEnvelope(env, key);
      if (!check.ok) add(check.code, check.message, SIGNATURE_FILE);
      else if (manifestBytes) {
        const subject = check.statement.subject.find((s) => s?.name === MANIFEST_FILE);
        const have = sha256Hex(manifestBytes);
        if (!subject || subject.digest?.sha256 !== have) {
          add('manifest_changed', `${MANIFEST_FILE} (sha256 ${have}) is not the manifest that was signed (${subject?.digest?.sha256 ?? 'no manifest.json subject'})`, MANIFEST_FILE);
        }
      }
    }
  }

  // Every listed file: present, same bytes, same row count.
  const listed = new Map<string, ManifestEntry>();
  for (const e of entries) {
    if (!isSafeRelativePath(e.path) || UNLISTED.has(e.path)) {
      add('bad_path', `the manifest lists ${JSON.stringify(e.path)}, which is not a plain path inside the packet`, e.path);
      continue;
    }
    if (listed.has(e.path)) {
      add('malformed_manifest', `the manifest lists ${e.path} twice`, e.path);
      continue;
    }
    listed.set(e.path, e);
  }
  report.files = listed.size;
  const { files, other } = await listPacketFiles(dir);
  const present = new Set(files);
  for (const e of listed.values()) {
    if (!present.has(e.path)) {
      add('missing_file', `${e.path} is listed in the manifest but missing`, e.path);
      continue;
    }
    const actual = await describeFile(dir, e.path);
    if (actual.sha256 !== e.sha256 || actual.bytes !== e.bytes) {
      add('changed_file', `${e.path} changed: sha256 ${actual.sha256} (${actual.bytes} bytes), the manifest says ${e.sha256} (${e.bytes} bytes)`, e.path);
    }
    if (e.rows !== undefined && actual.rows !== undefined && actual.rows !== e.rows) {
      add('row_count_mismatch', `${e.path} has ${actual.rows} data rows, the manifest says ${e.rows}`, e.path);
    }
  }
  for (const f of [...files, ...other]) {
    if (!listed.has(f) && !UNLISTED.has(f)) add('extra_file', `${f} is in the packet but not in the manifest`, f);
  }

  // The queries behind the data files.
  const metas: { path: string; meta: QueryMeta }[] = [];
  for (const path of listed.keys()) {
    if (!/^queries\/[^/]+\.meta\.json$/.test(path) || !present.has(path)) continue;
    try {
      const meta: unknown = JSON.parse(await readFile(join(dir, ...path.split('/')), 'utf8'));
      if (!isMeta(meta)) throw new Error('expected {id, sql_file, parameters, row_count, result_sha256, outputs}');
      metas.push({ path, meta });
    } catch (err) {
      add('malformed_query_meta', `${path}: ${(err as Error).message}`, path);
    }
  }
  report.queries = metas.length;
  const produced = new Set<string>();
  for (const { path, meta } of metas) {
    if (!listed.has(meta.sql_file)) add('missing_file', `${path} names ${meta.sql_file}, which the manifest does not list`, meta.sql_file);
    for (const out of meta.outputs) {
      produced.add(out);
      const e = listed.get(out);
      if (!e) add('missing_file', `${path} names the output ${out}, which the manifest does not list`, out);
      else if (e.rows !== undefined && e.rows !== meta.row_count) add('row_count_mismatch', `${out}: the manifest says ${e.rows} rows, ${path} says the query returned ${meta.row_count}`, out);
    }
  }
  for (const p of listed.keys()) {
    if (p.toLowerCase().endsWith('.csv') && !produced.has(p)) add('no_query', `${p} is a data file with no queries/<id>.meta.json naming it: it cannot be reproduced`, p);
  }

  if (opts.dbPath) {
    const db = await openEvidenceDb(opts.dbPath, { readOnly: true });
    const scratch = await mkdtemp(join(tmpdir(), 'auditgate-verify-rerun-'));
    try {
      // Times render in UTC whatever this machine's zone, as when the packet was written.
      await db.connection.run(PACKET_SESSION_SETUP);
      for (const { path, meta } of metas) {
        if (!present.has(meta.sql_file)) continue;
        const sql = await readFile(join(dir, ...meta.sql_file.split('/')), 'utf8');
        if (meta.result_sha256_of === 'csv') {
          let rerun;
          try {
            rerun = await copyCsvSha256(db.connection, sql, meta.parameters ?? {}, scratch);
          } catch (err) {
            add('query_failed', `${meta.sql_file} did not run on ${opts.dbPath}: ${(err as Error).message}`, meta.sql_file);
            continue;
          }
          report.rerun++;
          if (rerun.sha256 !== meta.result_sha256) {
            add('query_result_changed', `${meta.sql_file} now writes ${rerun.rows} rows with CSV sha256 ${rerun.sha256}; ${path} recorded ${meta.row_count} rows, ${meta.result_sha256}`, meta.sql_file);
            continue;
          }
          for (const out of meta.outputs) {
            const e = listed.get(out);
            if (out.toLowerCase().endsWith('.csv') && e && e.sha256 !== rerun.sha256) add('csv_differs_from_query', `${out} is not the CSV of ${meta.sql_file}'s result`, out);
          }
          continue;
        }
        let result;
        try {
          result = await executePacketQuery(db.connection, sql, meta.parameters ?? {});
        } catch (err) {
          add('query_failed', `${meta.sql_file} did not run on ${opts.dbPath}: ${(err as Error).message}`, meta.sql_file);
          continue;
        }
        report.rerun++;
        const hash = resultSha256(result);
        if (hash !== meta.result_sha256) {
          add('query_result_changed', `${meta.sql_file} now returns ${result.rows.length} rows with result sha256 ${hash}; ${path} recorded ${meta.row_count} rows, ${meta.result_sha256}`, meta.sql_file);
          continue;
        }
        const csv = formatResult(result, 'csv');
        for (const out of meta.outputs) {
          const e = listed.get(out);
          if (out.toLowerCase().endsWith('.csv') && e && (sha256Hex(csv) !== e.sha256 || csvDataRows(csv) !== e.rows)) {
            add('csv_differs_from_query', `${out} is not the CSV of ${meta.sql_file}'s result`, out);
          }
        }
      }
    } finally {
      db.close();
      await rm(scratch, { recursive: true, force: true });
    }
    try {
      const gen = JSON.parse(await readFile(join(dir, GENERATION_FILE), 'utf8')) as { evidence_db?: { sha256?: string } };
      const want = gen.evidence_db?.sha256;
      if (want) {
        const { sha256 } = await sha256File(opts.dbPath);
        notes.push(
          sha256 === want
            ? `${opts.dbPath} is byte for byte the evidence database the packet was generated from (sha256 ${sha256}).`
            : `${opts.dbPath} (sha256 ${sha256}) is not byte for byte the database the packet was generated from (${want}); expected if collection continued. Query results were compared.`,
        );
      }
    } catch {
      // generation.json unreadable: its hash check above already reports any change.
    }
  }

  report.ok = findings.length === 0;
  return report;
}

/** Verifies a zipped packet: extracted to a private temporary folder, checked, removed. */
export async function verifyPacketZip(zipPath: string, opts: VerifyOptions = {}): Promise<PacketReport> {
  const tmp = await mkdtemp(join(tmpdir(), 'auditgate-verify-'));
  try {
    let problems: string[];
    try {
      problems = await extractPacketZip(zipPath, tmp);
    } catch (err) {
      if (err instanceof ZipError || (err as NodeJS.ErrnoException).code === 'ENOENT') throw new PacketError(`cannot read the packet ${zipPath}: ${(err as Error).message}`);
      throw err;
    }
    const report = await verifyPacket(tmp, opts);
    report.packet = zipPath;
    report.findings.unshift(...problems.map((message) => ({ code: 'bad_zip_entry' as const, message })));
    report.ok = report.findings.length === 0;
    return report;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export function formatPacketReport(r: PacketReport): string {
  const lines = [`auditgate verify: ${r.packet}`];
  lines.push(`  signer key: ${r.keyId ?? 'none'}${r.trust === 'given' ? ' (--public-key)' : r.trust === 'embedded' ? ' (the packet\'s own copy: origin not checked)' : ''}`);
  lines.push(`  ${r.files} file${r.files === 1 ? '' : 's'} in the manifest, ${r.queries} quer${r.queries === 1 ? 'y' : 'ies'}${r.rerun ? `, ${r.rerun} re-run against the evidence database` : ''}`);
  for (const f of r.findings) lines.push(`  FAIL ${f.path ?? '-'}: ${f.code}: ${f.message}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  lines.push(
    r.ok
      ? `OK: the signature verifies; every file's sha256, size and row count matches; nothing added or removed${r.rerun ? '; every query gives its recorded result' : ''}.`
      : `FAILED: ${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}: do not rely on this packet as it is.`,
  );
  return `${lines.join('\n')}\n`;
}
