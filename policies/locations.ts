// Where the default policy sources and the committed bundle live, found from this module's
// own location so it works from the sources (vitest), from dist/ and from an installed package.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name;
      if (name === 'auditgate') return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`auditgate: cannot find the auditgate package root above ${start}`);
    dir = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
export const DEFAULT_POLICY_DIR = join(PACKAGE_ROOT, 'policies');
export const DEFAULT_BUNDLE_PATH = join(DEFAULT_POLICY_DIR, 'dist', 'auditgate.tar.gz');
/** Project-local tool dir that scripts/install-opa installs into. */
export const TOOLS_BIN = process.env.AUDITGATE_TOOLS_BIN ?? join(PACKAGE_ROOT, '.tools', 'bin');

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
