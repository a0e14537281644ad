// CLI tests run the built `auditgate` (dist/), as users do. Rebuild when sources are newer,
// so a plain `npx vitest` never tests a stale binary.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const SOURCE_DIRS = ['cli', 'policies', 'proxy', 'collectors', 'reports', 'bench', 'demo'];

function newestSource(): number {
  let newest = 0;
  for (const d of SOURCE_DIRS) {
    const dir = join(root, d);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir, { recursive: true }) as string[]) {
      if (name.endsWith('.ts') && !name.endsWith('.test.ts')) newest = Math.max(newest, statSync(join(dir, name)).mtimeMs);
    }
  }
  return newest;
}

export default function setup(): void {
  const bin = join(root, 'dist', 'cli', 'main.js');
  if (existsSync(bin) && statSync(bin).mtimeMs >= newestSource()) return;
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
}
