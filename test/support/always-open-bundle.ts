// The default policy bundle with its change window open around the clock, for gateway tests.
// The committed bundle refuses agents' production writes outside Monday–Friday 08–18 UTC, so a
// test that drives one would pass or fail by the hour CI runs at. The rule stays in (decisions
// still read the time and are not cached, as in production); only its hours are widened.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withBundleData } from '../../policies/engine/bundle-data.js';
import { DEFAULT_BUNDLE_PATH } from '../../policies/locations.js';

export async function alwaysOpenBundle(): Promise<string> {
  const source = await readFile(DEFAULT_BUNDLE_PATH);
  const file = join(tmpdir(), `auditgate-test-bundle-open-window-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.tar.gz`);
  if (existsSync(file)) return file;
  const bundle = await withBundleData(source, (doc) => {
    const w = (doc as { auditgate_config?: { change_window?: Record<string, unknown> } }).auditgate_config?.change_window;
    if (!w) throw new Error('the default bundle has no auditgate_config.change_window: update test/support/always-open-bundle.ts');
    Object.assign(w, { weekdays: ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'], start_hour: 0, end_hour: 24 });
  });
  await mkdir(tmpdir(), { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, bundle);
  await rename(partial, file); // atomic: parallel test files may race to write it
  return file;
}
