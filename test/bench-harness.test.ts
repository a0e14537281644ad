// The benchmark harness runs (short mode: correctness of the harness, no timing assertions).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

describe('npm run bench -- --short', () => {
  it('runs every suite (decision latency; pgbench via direct, PgBouncer and the gateway) and writes nothing', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'dist', 'bench', 'run.js'), '--short'], { cwd: root });
    expect(stdout).toMatch(/^decision: decision p50 [\d.]+–[\d.]+ µs \(goal ≤ 20 µs\): (met|not met)$/m);
    expect(stdout).toMatch(/^gateway: harness ok \(2 runs × 3 targets\)$/m);
    expect(stdout).toMatch(/^memory: harness ok \(peak RSS \d+ MB\)$/m);
    expect(stdout).toMatch(/^report: harness ok \(20,000 statements, packet verifies\)$/m);
    expect(stdout).toContain('(short mode: BENCHMARKS.md not written)');
  });

  it('refuses an unknown suite by name', async () => {
    const err = await promisify(execFile)(process.execPath, [join(root, 'dist', 'bench', 'run.js'), 'nope', '--short'], {
      cwd: root,
    }).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toMatch(/unknown suite\(s\): nope; suites: decision, gateway, memory/);
  });
});
