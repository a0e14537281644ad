// What gateway build is running: the package version and a digest of the compiled code, so the
// record (bundle_loaded) shows which gateway software was in force, not just which policy.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageVersion } from '../policies/locations.js';

export interface GatewayBuild {
  version: string;
  node: string;
  /** sha256 over the sorted relative paths and bytes of the .js files of the running code tree. */
  code_sha256: string;
}

let cached: GatewayBuild | null = null;

export function gatewayBuild(): GatewayBuild {
  if (cached) return cached;
  // This module lives in <root>/proxy (sources) or <root>/dist/proxy (built): its parent is the code tree.
  const tree = dirname(dirname(fileURLToPath(import.meta.url)));
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (e.name.endsWith('.js') || (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.endsWith('.test.ts')))) files.push(relative(tree, p).split(sep).join('/'));
    }
  };
  for (const top of ['proxy', 'policies', 'cli']) {
    try {
      walk(join(tree, top));
    } catch {
      // a tree without that folder (an embedding that ships only the proxy)
    }
  }
  files.sort();
  const h = createHash('sha256');
  for (const f of files) h.update(`${f}\0`).update(readFileSync(join(tree, f))).update('\0');
  cached = { version: packageVersion(), node: process.version, code_sha256: h.digest('hex') };
  return cached;
}
