// Output formats of `auditgate policy test`: pretty (people), json (tools), junit (CI systems).
import { XMLBuilder } from 'fast-xml-parser';
import type { RunSummary, TestResult } from './runner.js';

/** The closing line CI systems and people read: "N passed, N failed". */
export function summaryLine(s: RunSummary): string {
  return `${s.passed} passed, ${s.failed} failed`;
}

export function prettyResult(r: TestResult): string {
  const mark = r.status === 'passed' ? 'PASS' : r.status === 'failed' ? 'FAIL' : 'ERROR';
  const head = `${mark}  ${r.suite} > ${r.name}`;
  if (r.status === 'passed') return head;
  return [head, `      at ${r.file}:${r.line}`, ...r.failures.map((f) => `      ${f}`)].join('\n');
}

export function prettyReport(s: RunSummary, opts: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  for (const r of s.results) if (opts.verbose || r.status !== 'passed') lines.push(prettyResult(r));
  lines.push('', `bundle ${s.bundle.source} sha256:${s.bundle.sha256}`, `${(s.durationMs / 1000).toFixed(2)}s`, summaryLine(s));
  return lines.join('\n');
}

export function jsonReport(s: RunSummary): string {
  return JSON.stringify(
    {
      summary: { passed: s.passed, failed: s.failed, total: s.results.length, duration_ms: Math.round(s.durationMs) },
      bundle: s.bundle,
      results: s.results.map((r) => ({ ...r, durationMs: undefined, duration_ms: Number(r.durationMs.toFixed(3)) })),
    },
    null,
    2,
  );
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** JUnit XML as Jenkins, GitLab and GitHub test reporters read it: one testsuite per case file or Rego package. */
export function junitReport(s: RunSummary): string {
  const suites = new Map<string, TestResult[]>();
  for (const r of s.results) suites.set(r.suite, [...(suites.get(r.suite) ?? []), r]);
  const count = (rs: TestResult[], st: TestResult['status']) => rs.filter((r) => r.status === st).length;
  const doc = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    testsuites: {
      '@_name': 'auditgate policy test',
      '@_tests': s.results.length,
      '@_failures': count(s.results, 'failed'),
      '@_errors': count(s.results, 'error'),
      '@_time': seconds(s.durationMs),
      testsuite: [...suites].map(([name, rs]) => ({
        '@_name': name,
        '@_tests': rs.length,
        '@_failures': count(rs, 'failed'),
        '@_errors': count(rs, 'error'),
        '@_time': seconds(rs.reduce((t, r) => t + r.durationMs, 0)),
        testcase: rs.map((r) => ({
          '@_classname': name,
          '@_name': r.name,
          '@_file': r.file,
          '@_line': r.line,
          '@_time': seconds(r.durationMs),
          ...(r.status === 'failed' ? { failure: { '@_message': r.failures[0] ?? 'failed', '#text': r.failures.join('\n') } } : {}),
          ...(r.status === 'error' ? { error: { '@_message': r.failures[0] ?? 'error', '#text': r.failures.join('\n') } } : {}),
        })),
      })),
    },
  };
  const builder = new XMLBuilder({ ignoreAttributes: false, format: true, suppressEmptyNode: true, processEntities: true });
  return builder.build(doc) as string;
}
