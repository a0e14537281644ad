// The default policy bundle with its change window open around the clock, for gateway tests.
// The committed bundle refuses agents' production writes outside Monday–Friday 08–18 UTC, so a
// test that drives one would pass or fail by the hour CI runs at. The rule stays in (decisions
// still read the time and are not cached, as in production); only its hours are widened.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { DEFAULT_BUNDLE_PATH } from '../../policies/locations.js';

async function entries(tarBytes: Buffer): Promise<{ name: string; data: Buffer; mode?: number }[]> {
  const out: { name: string; data: Buffer; mode?: number }[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') out.push({ name: header.name, data: Buffer.concat(chunks), ...(header.mode !== undefined ? { mode: header.mode } : {}) });
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(tarBytes);
  await done;
  return out;
}

export async function alwaysOpenBundle(): Promise<string> {
  const source = await readFile(DEFAULT_BUNDLE_PATH);
  const file = join(tmpdir(), `auditgate-test-bundle-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.tar.gz`);
  if (existsSync(file)) return file;
  const files = await entries(gunzipSync(source));
  const pack = tar.pack();
  for (const f of files) {
    let data = f.data;
    if (f.name.replace(/^\//, '') === 'data.json') {
      const json = JSON.parse(data.toString('utf8')) as { auditgate_config?: { change_window?: Record<string, unknown> } };
      const w = json.auditgate_config?.change_window;
      if (!w) throw new Error('the default bundle has no auditgate_config.change_window: update test/support/always-open-bundle.ts');
      Object.assign(w, { weekdays: ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'], start_hour: 0, end_hour: 24 });
      data = Buffer.from(JSON.stringify(json));
    }
    pack.entry({ name: f.name, size: data.length, ...(f.mode !== undefined ? { mode: f.mode } : {}) }, data);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  await mkdir(tmpdir(), { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, gzipSync(Buffer.concat(chunks)));
  await rename(partial, file); // atomic: parallel test files may race to write it
  return file;
}
