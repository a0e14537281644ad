// A bundle with its data changed and everything else (the wasm, every rule, the manifest)
// byte for byte the same: OPA keeps data apart from the compiled policy so it can be tuned
// without rebuilding. The demo uses it to tune the change window; tests to open it.
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { extract, pack, type Header } from 'tar-stream';

interface Entry {
  header: Header;
  body: Buffer;
}

async function readTar(tar: Buffer): Promise<Entry[]> {
  const entries: Entry[] = [];
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

async function writeTar(entries: Entry[]): Promise<Buffer> {
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
  const entries = await readTar(gunzipSync(bundle));
  const data = entries.find((e) => e.header.name.replace(/^\/+/, '') === 'data.json');
  if (!data) throw new Error(`${source} has no /data.json: not an OPA bundle with data`);
  const doc = JSON.parse(data.body.toString('utf8')) as Record<string, unknown>;
  change(doc);
  data.body = Buffer.from(JSON.stringify(doc), 'utf8');
  return gzipSync(await writeTar(entries), { level: 9 });
}
