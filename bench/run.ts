// `npm run bench [-- SUITE...] [--short]`: runs benchmark suites and rewrites BENCHMARKS.md.
// Each suite's section (with its own date, machine and versions) is kept in
// bench/results/<suite>.md, so running one suite alone updates only its figures.
// --short checks the harness only (CI) and writes nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT, packageVersion } from '../policies/locations.js';
import { decisionSuite } from './decision.js';
import { gatewaySuite } from './gateway.js';
import { memorySuite } from './memory.js';
import { recorderSuite } from './recorder.js';
import { collectSuite } from './collect.js';
import { reportSuite } from './report.js';
import type { BenchSuite } from './suite.js';

const SUITES: BenchSuite[] = [decisionSuite, gatewaySuite, memorySuite, recorderSuite, collectSuite, reportSuite];
const RESULTS = join(PACKAGE_ROOT, 'bench', 'results');

function depVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

/** The machine's CPU time counters (/proc/stat, all CPUs): total and steal. Null off Linux. */
function cpuTimes(): { total: number; steal: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
  } catch {
    return null;
  }
}

/** The commit measured, and whether the working tree's code differed from it (Markdown aside: BENCHMARKS.md and docs change nothing measured). */
function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PACKAGE_ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!*.md', ':!bench/results'], { cwd: PACKAGE_ROOT, encoding: 'utf8' }).trim() !== '';
    return ` (commit ${head}${dirty ? ', with uncommitted changes' : ''})`;
  } catch {
    return '';
  }
}

function environment(before: ReturnType<typeof cpuTimes>): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const after = cpuTimes();
  // On a virtual machine, steal is CPU time the host gave to other guests: figures move with it.
  const steal = before && after && after.total > before.total ? ` CPU steal during the suite: ${((100 * (after.steal - before.steal)) / (after.total - before.total)).toFixed(1)}%.` : '';
  return (
    `Measured ${new Date().toISOString()} on ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
    `node ${process.version}, auditgate ${packageVersion()}${commit()}, @open-policy-agent/opa-wasm ${depVersion('@open-policy-agent/opa-wasm')}, ` +
    `libpg-query ${depVersion('libpg-query')}.${steal}`
  );
}

const args = process.argv.slice(2);
const short = args.includes('--short');
const wanted = args.filter((a) => !a.startsWith('--'));
const unknown = wanted.filter((w) => !SUITES.some((s) => s.name === w));
if (unknown.length) {
  process.stderr.write(`unknown suite(s): ${unknown.join(', ')}; suites: ${SUITES.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}

mkdirSync(RESULTS, { recursive: true });
for (const suite of SUITES.filter((s) => wanted.length === 0 || wanted.includes(s.name))) {
  process.stderr.write(`== ${suite.name}${short ? ' (short)' : ''}\n`);
  const before = cpuTimes();
  const result = await suite.run({ short, log: (m) => process.stderr.write(`  ${m}\n`) });
  process.stdout.write(`${suite.name}: ${result.summary}\n`);
  if (!short) {
    writeFileSync(
      join(RESULTS, `${suite.name}.md`),
      `## ${suite.title}\n\n${environment(before)}\n\n**${result.summary}**\n\n${result.markdown}\n`,
    );
  }
}

if (short) {
  process.stdout.write('(short mode: BENCHMARKS.md not written)\n');
} else {
  const sections = SUITES.map((s) => join(RESULTS, `${s.name}.md`))
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f, 'utf8'));
  writeFileSync(
    join(PACKAGE_ROOT, 'BENCHMARKS.md'),
    [
      '# Benchmarks',
      '',
      'Written by `npm run bench` (one suite: `npm run bench -- <suite>`; suites: ' +
        `${SUITES.map((s) => `\`${s.name}\``).join(', ')}). Every figure here was measured by it on the machine named in its section.`,
      '',
      ...sections,
    ].join('\n'),
  );
  process.stdout.write('wrote BENCHMARKS.md\n');
}
