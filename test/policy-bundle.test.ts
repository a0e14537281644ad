// The committed default bundle is what the gateway runs without opa: it must be exactly what
// its sources compile to, and the build must be reproducible.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBundle, bundleDifferences } from '../policies/build.js';
import { readBundleFile } from '../policies/engine/bundle.js';
import { DEFAULT_BUNDLE_PATH, DEFAULT_POLICY_DIR } from '../policies/locations.js';
import { runPolicyTests } from '../policies/testing/runner.js';

describe('default policy bundle', () => {
  it('is not stale: rebuilding policies/ gives the committed bundle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'auditgate-stale-'));
    const fresh = await buildBundle({ out: join(dir, 'fresh.tar.gz') });
    const committed = await readBundleFile(DEFAULT_BUNDLE_PATH);
    const diff = bundleDifferences(committed, await readBundleFile(fresh.out));
    expect(diff, 'policies/dist/auditgate.tar.gz is stale: run `npx auditgate policy build` and commit it').toEqual([]);
    const files = [...committed.files.keys()];
    expect(files).toEqual(expect.arrayContaining(['.manifest', 'data.json', 'policy.wasm', 'rego/auditgate.rego']));
    // Rego tests never ship in the production bundle.
    expect(files.filter((f) => f.endsWith('_test.rego'))).toEqual([]);
  });

  it('builds deterministically (byte-identical archives)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'auditgate-determinism-'));
    const a = await buildBundle({ out: join(dir, 'a.tar.gz') });
    const b = await buildBundle({ out: join(dir, 'b.tar.gz') });
    expect(a.sha256).toBe(b.sha256);
    expect((await readFile(a.out)).equals(await readFile(DEFAULT_BUNDLE_PATH))).toBe(true);
  });

  it('passes its own suite of at least 60 cases and the Rego tests', async () => {
    const summary = await runPolicyTests({ dir: DEFAULT_POLICY_DIR });
    const failures = summary.results.filter((r) => r.status !== 'passed').map((r) => `${r.suite} > ${r.name}: ${r.failures.join('; ')}`);
    expect(failures).toEqual([]);
    const cases = summary.results.filter((r) => r.suite.includes('cases/'));
    expect(cases.length).toBeGreaterThanOrEqual(60);
    expect(summary.results.length - cases.length).toBeGreaterThanOrEqual(8);
  });
});
