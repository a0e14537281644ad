// `auditgate policy test` on fixture policies: failures are loud, JUnit is valid, bad case
// files are named with their line.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from './run-cli.js';

const fixture = (name: string) => join(ROOT, 'test', 'fixtures', 'policies', name);

describe('auditgate policy test', () => {
  it('fails with readable output on a deliberately broken policy', async () => {
    const r = await runCli(['policy', 'test', '--dir', fixture('broken')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL  test/fixtures/policies/broken/cases/statements.yaml > delete without where is denied');
    expect(r.stdout).toMatch(/expected deny, got allow/);
    expect(r.stdout).toMatch(/statements\.yaml:\d+/);
    expect(r.stdout).toContain('FAIL  auditgate_test > test_delete_without_where_denied');
    expect(r.stdout).not.toContain('grant is denied');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('3 passed, 2 failed');
  });

  it('writes JUnit XML that CI systems can read', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'auditgate-junit-')), 'report.xml');
    const r = await runCli(['policy', 'test', '--dir', fixture('broken'), '--format', 'junit', '--output', out]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('3 passed, 2 failed');
    const xml = await readFile(out, 'utf8');
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false }).parse(xml) as {
      testsuites: { '@_tests': string; '@_failures': string; testsuite: { '@_name': string; testcase: unknown[] | unknown }[] };
    };
    expect(doc.testsuites['@_tests']).toBe('5');
    expect(doc.testsuites['@_failures']).toBe('2');
    const suites = doc.testsuites.testsuite;
    expect(suites.map((s) => s['@_name'])).toEqual(['test/fixtures/policies/broken/cases/statements.yaml', 'auditgate_test']);
    const cases = suites.flatMap((s) => (Array.isArray(s.testcase) ? s.testcase : [s.testcase])) as Record<string, unknown>[];
    const failed = cases.filter((c) => 'failure' in c).map((c) => c['@_name']);
    expect(failed).toEqual(['delete without where is denied', 'test_delete_without_where_denied']);
  });

  it('prints JSON results', async () => {
    const r = await runCli(['policy', 'test', '--dir', fixture('broken'), '--format', 'json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { summary: { passed: number; failed: number }; results: { name: string; status: string }[] };
    expect(doc.summary).toMatchObject({ passed: 3, failed: 2 });
    expect(r.stderr).toContain('3 passed, 2 failed');
  });

  it('--run selects tests by file/package and name', async () => {
    const r = await runCli(['policy', 'test', '--dir', fixture('broken'), '--run', 'grant', '-v']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('2 passed, 0 failed');
  });

  it('names the file and line of an invalid case file', async () => {
    const r = await runCli(['policy', 'test', '--dir', fixture('bad-cases')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad-cases\/cases\/bad\.yaml:10: \/cases\/1\/expect must NOT have additional properties \(outcom\)/);
  });

  it('says how to get opa when it cannot be found', async () => {
    const r = await runCli(['policy', 'test', '--dir', fixture('broken')], {
      env: { OPA_BIN: '/nonexistent/opa', PATH: '/usr/bin:/bin', AUDITGATE_TOOLS_BIN: '/nonexistent' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/opa not found/);
    expect(r.stderr).toMatch(/npm run install-opa/);
  });
});
