// A bundle with its data changed and everything else (the wasm, every rule, the manifest)
// byte for byte the same: OPA keeps data apart from the compiled policy so it can be tuned
// without rebuilding. The demo uses it to tune the change window; tests to open it.
import { gunzipSync, gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { readTarEntries, type TarEntry } from './bundle.js';

async function writeTar(entries: TarEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    p.on('data', (c: unknown) => chunks.push(c as Buffer));
    p.on('end', () => resolve(Buffer.concat(chunks)));
    p.on('error', reject);
  });
  for (const e of entries) p.entry({ ...e.header, size: e.body.length }, e.body);
  p.finalize();
  return done;
}

/**
 * The bundle (.tar.gz bytes) with /data.json passed through `change` (which edits it in place
 * and throws if it does not find what it expects). Deterministic: no gzip timestamp, headers
 * kept, so the same input always gives the same bytes and the same bundle sha256.
 */
export async function withBundleData(bundle: Buffer, change: (data: Record<string, unknown>) => void, source = '<bundle>'): Promise<Buffer> {
  const entries = await readTarEntries(gunzipSync(bundle));
  const data = entries.find((e) => e.header.name.replace(/^\/+/, '') === 'data.json');
  if (!data) throw new Error(`${source} has no /data.json: not an OPA bundle with data`);
  const doc = JSON.parse(data.body.toString('utf8')) as Record<string, unknown>;
  change(doc);
  data.body = Buffer.from(JSON.stringify(doc), 'utf8');
  return gzipSync(await writeTar(entries), { level: 9 });
}
