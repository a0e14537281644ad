// `auditgate policy test`: table-driven cases against the bundle the gateway would load,
// then Rego-native test_* rules compiled to wasm. One result per case or test rule.
import { join, relative, resolve } from 'node:path';
import type { Identity } from '../contract.js';
import { buildToMemory, policyLayout } from '../build.js';
import { readBundleFile } from '../engine/bundle.js';
import { PolicyEngine } from '../engine/engine.js';
import { describeThrown } from '../engine/errors.js';
import { DEFAULT_POLICY_DIR } from '../locations.js';
import { CaseFileError, loadCaseDir, type CaseFile, type LoadedCase } from './cases.js';
import { decide, decideConnect, type DecideRequest } from './decide.js';
import { checkConnect, checkStatement } from './expectations.js';
import { discoverRegoTests, findTestFiles } from './rego-tests.js';

export type TestStatus = 'passed' | 'failed' | 'error';

export interface TestResult {
  /** The case file, or the Rego package for test_* rules. */
  suite: string;
  name: string;
  status: TestStatus;
  failures: string[];
  durationMs: number;
  file: string;
  line: number;
}

export interface RunOptions {
  dir?: string;
  /** Test this built bundle instead of building one from `dir`. */
  bundle?: string;
  /** Only run tests whose "suite name" matches. */
  run?: RegExp;
  /** Run Rego-native test_* rules (default true; needs opa). */
  regoTests?: boolean;
  opaBin?: string;
  /** Progress for long runs: called before each phase. */
  onPhase?: (message: string) => void;
  onResult?: (result: TestResult) => void;
}

export interface RunSummary {
  results: TestResult[];
  passed: number;
  failed: number;
  bundle: { source: string; sha256: string };
  durationMs: number;
}

export async function runPolicyTests(opts: RunOptions = {}): Promise<RunSummary> {
  const started = performance.now();
  const dir = resolve(opts.dir ?? DEFAULT_POLICY_DIR);
  const layout = policyLayout(dir);
  const { fixtures, files } = await loadCaseDir(join(dir, 'cases'));

  let engine: PolicyEngine;
  if (opts.bundle) {
    engine = PolicyEngine.fromBundle(await readBundleFile(resolve(opts.bundle)));
  } else {
    opts.onPhase?.(`building ${relative(process.cwd(), dir) || '.'} with opa build -t wasm`);
    engine = PolicyEngine.fromBundle(await buildToMemory({ dir, opaBin: opts.opaBin }));
  }

  const results: TestResult[] = [];
  const record = (r: TestResult) => {
    results.push(r);
    opts.onResult?.(r);
  };

  for (const file of files) {
    for (const c of file.cases) {
      if (opts.run && !opts.run.test(`${file.path} ${c.name}`)) continue;
      record(await runCase(engine, c, file, fixtures));
    }
  }

  if (opts.regoTests !== false) {
    const testFiles = await findTestFiles(layout.rego);
    let tests = testFiles.length ? await discoverRegoTests(testFiles, opts.opaBin) : [];
    tests = tests.filter((t) => !opts.run || opts.run.test(`${t.pkg} ${t.name}`));
    if (tests.length) {
      opts.onPhase?.(`compiling ${tests.length} Rego test rules to wasm`);
      const testBundle = await buildToMemory({
        dir,
        includeTests: true,
        extraEntrypoints: tests.map((t) => t.entrypoint),
        opaBin: opts.opaBin,
      });
      const testEngine = PolicyEngine.fromBundle(testBundle);
      for (const t of tests) {
        const t0 = performance.now();
        let status: TestStatus = 'passed';
        const failures: string[] = [];
        try {
          const result = testEngine.evaluate(t.entrypoint, {});
          if (result !== true) {
            status = 'failed';
            failures.push(`test rule evaluated to ${JSON.stringify(result)}, expected true`);
          }
        } catch (err) {
          const undefinedResult = (err as { code?: string }).code === 'undefined_decision';
          status = undefinedResult ? 'failed' : 'error';
          failures.push(undefinedResult ? 'test rule is undefined (a condition in its body did not hold)' : describeThrown(err));
        }
        const file = relative(process.cwd(), t.file) || t.file;
        record({ suite: t.pkg, name: t.name, status, failures, durationMs: performance.now() - t0, file, line: t.line });
      }
    }
  }

  const passed = results.filter((r) => r.status === 'passed').length;
  return {
    results,
    passed,
    failed: results.length - passed,
    bundle: { source: engine.bundleSource, sha256: engine.bundleSha256 },
    durationMs: performance.now() - started,
  };
}

async function runCase(engine: PolicyEngine, c: LoadedCase, file: CaseFile, fixtures: CaseFile | null): Promise<TestResult> {
  const t0 = performance.now();
  const base = { suite: file.path, name: c.name, file: c.file, line: c.line };
  try {
    const req = caseRequest(c, file, fixtures);
    const failures =
      (c.entrypoint ?? 'statement') === 'connect'
        ? checkConnect(c.expect, decideConnect(engine, req))
        : checkStatement(c.expect, await decide(engine, req));
    return { ...base, status: failures.length ? 'failed' : 'passed', failures, durationMs: performance.now() - t0 };
  } catch (err) {
    return { ...base, status: 'error', failures: [describeThrown(err)], durationMs: performance.now() - t0 };
  }
}

/** Case fields win over the file's defaults, which win over _fixtures.yaml's. */
function caseRequest(c: LoadedCase, file: CaseFile, fixtures: CaseFile | null): DecideRequest {
  const input = (c.input ?? {}) as Partial<DecideRequest> & { statement?: DecideRequest['statement'] };
  const identities = { ...fixtures?.identities, ...file.identities };
  const ref = input.identity ?? c.identity ?? file.defaults.identity ?? fixtures?.defaults.identity;
  if (ref === undefined) throw new CaseFileError(c.file, c.line, `case "${c.name}" has no identity (and no default identity)`);
  let identity: Identity;
  if (typeof ref === 'string') {
    const found = identities[ref];
    if (!found) throw new CaseFileError(c.file, c.line, `unknown identity "${ref}" (known: ${Object.keys(identities).join(', ') || 'none'})`);
    identity = found;
  } else {
    identity = ref;
  }
  return {
    identity: { ...identity, claims: identity.claims ?? {} },
    session: { ...fixtures?.defaults.session, ...file.defaults.session, ...c.session, ...input.session },
    time: { ...fixtures?.defaults.time, ...file.defaults.time, ...c.time, ...input.time },
    sql: c.sql,
    statement: input.statement,
    protocol: c.protocol,
    params: c.params,
    approval: (input.approval as DecideRequest['approval']) ?? null,
  };
}
