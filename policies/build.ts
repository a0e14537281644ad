// `opa build -t wasm` for a policy directory laid out as:
//   <dir>/rego/**/*.rego     Rego sources (files ending _test.rego are tests, left out of the bundle)
//   <dir>/data/**/data.{json,yaml}   data documents, their folder path is their data path
//   <dir>/capabilities.json  builtins the npm opa-wasm SDK can run (ours is used when absent)
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { ENTRYPOINTS } from './contract.js';
import { readBundleFile, type PolicyBundle } from './engine/bundle.js';
import { DEFAULT_POLICY_DIR } from './locations.js';
import { runOpa } from './opa.js';

export interface BuildOptions {
  dir?: string;
  out: string;
  /** Entrypoints beyond auditgate/connect and auditgate/statement (e.g. Rego test rules). */
  extraEntrypoints?: string[];
  /**
   * Capabilities file restricting builtins; default <dir>/capabilities.json, else ours.
   * null compiles against everything opa knows (only for tests of the engine's failure paths).
   */
  capabilities?: string | null;
  /** Compile *_test.rego files too (for running Rego-native tests against the wasm). */
  includeTests?: boolean;
  opaBin?: string;
}

export interface BuildResult {
  out: string;
  sha256: string;
  entrypoints: string[];
}

export function policyLayout(dir: string = DEFAULT_POLICY_DIR): {
  root: string;
  rego: string;
  data: string | null;
  capabilities: string;
} {
  const root = resolve(dir);
  const rego = join(root, 'rego');
  if (!existsSync(rego)) throw new Error(`policy directory ${root} has no rego/ folder (expected ${rego})`);
  const data = join(root, 'data');
  const own = join(root, 'capabilities.json');
  return {
    root,
    rego,
    data: existsSync(data) ? data : null,
    capabilities: existsSync(own) ? own : join(DEFAULT_POLICY_DIR, 'capabilities.json'),
  };
}

export async function buildBundle(opts: BuildOptions): Promise<BuildResult> {
  const layout = policyLayout(opts.dir);
  const entrypoints = [...Object.values(ENTRYPOINTS), ...(opts.extraEntrypoints ?? [])];
  const capabilities = opts.capabilities === undefined ? layout.capabilities : opts.capabilities;
  const args = ['build', '-t', 'wasm', ...(capabilities ? ['--capabilities', capabilities] : [])];
  for (const e of entrypoints) args.push('-e', e);
  if (!opts.includeTests) args.push('--ignore', '*_test.rego');
  // Relative source paths: opa embeds them (in error locations) in policy.wasm, and the same
  // sources must build to the same bytes wherever the checkout lives.
  args.push('-o', resolve(opts.out), 'rego');
  if (layout.data) args.push('data');
  await mkdir(dirname(resolve(opts.out)), { recursive: true });
  await runOpa(args, { opaBin: opts.opaBin, cwd: layout.root });
  const bundle = await readBundleFile(resolve(opts.out));
  return { out: resolve(opts.out), sha256: bundle.sha256, entrypoints };
}

/** Builds into a temporary file and returns the parsed bundle (the temp file is removed). */
export async function buildToMemory(opts: Omit<BuildOptions, 'out'>): Promise<PolicyBundle> {
  const tmp = await mkdtemp(join(tmpdir(), 'auditgate-build-'));
  try {
    const { out } = await buildBundle({ ...opts, out: join(tmp, 'bundle.tar.gz') });
    const bundle = await readBundleFile(out);
    return { ...bundle, source: `(built from ${relative(process.cwd(), policyLayout(opts.dir).root) || '.'})` };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Compares two bundles by what the gateway loads from them (policy.wasm, data.json and the
 * manifest), not by archive bytes, so a stale check does not depend on tar/gzip metadata.
 * Returns the names of the files that differ.
 */
export function bundleDifferences(a: PolicyBundle, b: PolicyBundle): string[] {
  const names = new Set([...a.files.keys(), ...b.files.keys()]);
  return [...names].filter((n) => {
    const x = a.files.get(n);
    const y = b.files.get(n);
    return !x || !y || !x.equals(y);
  });
}
