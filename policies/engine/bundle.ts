// Reads an `opa build -t wasm` bundle (.tar.gz) into memory: the SDK does not read bundles.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { PolicyError, describeThrown } from './errors.js';

export interface PolicyBundle {
  /** sha256 (hex) of the .tar.gz bytes exactly as loaded: what records and packets cite. */
  sha256: string;
  /** Where it came from (a path, or a label for in-memory bundles). */
  source: string;
  wasm: Uint8Array<ArrayBuffer>;
  data: unknown;
  manifest: Record<string, unknown> | null;
  /** Every file in the bundle, path (no leading slash) -> bytes; used to compare bundles. */
  files: Map<string, Buffer>;
}

/** Bundles are small (a policy and its data); refuse anything absurd before unpacking it. */
const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

export async function readBundleFile(path: string): Promise<PolicyBundle> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new PolicyError('bundle_unreadable', `cannot read policy bundle ${path}: ${describeThrown(err)}`, { cause: err });
  }
  return parseBundle(bytes, path);
}

export async function parseBundle(bytes: Buffer, source = '<memory>'): Promise<PolicyBundle> {
  if (bytes.length > MAX_BUNDLE_BYTES) {
    throw new PolicyError('bundle_invalid', `policy bundle ${source} is ${bytes.length} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit`);
  }
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: MAX_BUNDLE_BYTES });
  } catch (err) {
    throw new PolicyError('bundle_corrupt', `policy bundle ${source} is not a valid .tar.gz: ${describeThrown(err)}`, { cause: err });
  }
  const files = await untar(tar, source);
  const wasm = files.get('policy.wasm');
  if (!wasm) {
    throw new PolicyError('bundle_invalid', `policy bundle ${source} has no /policy.wasm: build it with \`auditgate policy build\` (opa build -t wasm)`);
  }
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    source,
    wasm: new Uint8Array(wasm),
    data: parseJsonFile(files.get('data.json'), 'data.json', source) ?? {},
    manifest: (parseJsonFile(files.get('.manifest'), '.manifest', source) as Record<string, unknown> | undefined) ?? null,
    files,
  };
}

function parseJsonFile(bytes: Buffer | undefined, name: string, source: string): unknown {
  if (!bytes) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new PolicyError('bundle_invalid', `policy bundle ${source}: /${name} is not valid JSON: ${describeThrown(err)}`, { cause: err });
  }
}

export interface TarEntry {
  header: Header;
  body: Buffer;
}

/** Every entry of a tar archive, headers kept (bundle-data.ts repacks them). */
export async function readTarEntries(tar: Buffer): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        entries.push({ header, body: Buffer.concat(chunks) });
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  Readable.from([tar]).pipe(ex);
  await done;
  return entries;
}

async function untar(tar: Buffer, source: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  try {
    for (const e of await readTarEntries(tar)) if (e.header.type === 'file') files.set(e.header.name.replace(/^\/+/, ''), e.body);
  } catch (err) {
    throw new PolicyError('bundle_corrupt', `policy bundle ${source} is not a valid tar archive: ${describeThrown(err)}`, { cause: err });
  }
  if (files.size === 0) throw new PolicyError('bundle_corrupt', `policy bundle ${source} contains no files`);
  return files;
}
