import { writeFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { Identity } from '../../policies/contract.js';
import { buildBundle } from '../../policies/build.js';
import { PolicyEngine } from '../../policies/engine/engine.js';
import { DEFAULT_BUNDLE_PATH, DEFAULT_POLICY_DIR } from '../../policies/locations.js';
import { decide, buildSession, buildTime, type DecideRequest } from '../../policies/testing/decide.js';
import { jsonReport, junitReport, prettyReport, prettyResult, summaryLine } from '../../policies/testing/reporters.js';
import { runPolicyTests } from '../../policies/testing/runner.js';
import { CliError } from '../errors.js';
import { readDocument } from '../read-input.js';

const rel = (p: string) => relative(process.cwd(), p) || p;

const build: CommandModule<object, { dir: string; out: string }> = {
  command: 'build',
  describe: 'Compile Rego to the wasm bundle the gateway loads (opa build -t wasm)',
  builder: (y) =>
    y
      .option('dir', { type: 'string', default: DEFAULT_POLICY_DIR, describe: 'policy folder: rego/, data/, capabilities.json' })
      .option('out', { type: 'string', describe: 'bundle to write (default: <dir>/dist/auditgate.tar.gz)' }) as Argv<{
      dir: string;
      out: string;
    }>,
  handler: async (args) => {
    const out = args.out ?? resolve(args.dir, 'dist', 'auditgate.tar.gz');
    const t0 = performance.now();
    const result = await buildBundle({ dir: args.dir, out });
    process.stdout.write(
      `built ${rel(result.out)} in ${((performance.now() - t0) / 1000).toFixed(1)}s\n` +
        `  sha256 ${result.sha256}\n  entrypoints ${result.entrypoints.join(', ')}\n`,
    );
  },
};

interface EvalArgs {
  bundle: string;
  entrypoint: string;
  input?: string;
  sql?: string;
  identity?: string;
  session?: string;
  time?: string;
}

const evaluate: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Evaluate a bundle entrypoint for one input, or decide SQL for an identity',
  builder: (y) =>
    y
      .option('bundle', { type: 'string', default: DEFAULT_BUNDLE_PATH, describe: 'built bundle (.tar.gz)' })
      .option('entrypoint', { type: 'string', default: 'statement', describe: 'statement, connect, or a full path' })
      .option('input', { type: 'string', describe: 'input document: a JSON/YAML file, - for stdin, or inline JSON' })
      .option('sql', { type: 'string', describe: 'SQL to analyse and decide (instead of --input)' })
      .option('identity', { type: 'string', describe: 'identity for --sql: JSON/YAML file or inline JSON' })
      .option('session', { type: 'string', describe: 'session fields for --sql (merged over test defaults)' })
      .option('time', { type: 'string', describe: 'time for --sql: {now, hour, weekday}' })
      .conflicts('input', 'sql')
      .check((a) => {
        if (!a.input && !a.sql) throw new Error('give --input FILE|- or --sql "..." --identity FILE');
        if (a.sql && !a.identity) throw new Error('--sql needs --identity');
        return true;
      })
      .example('$0 policy eval --entrypoint connect --input input.json', '')
      .example('$0 policy eval --sql "DELETE FROM orders" --identity agent.yaml', ''),
  handler: async (args) => {
    const engine = await PolicyEngine.fromFile(args.bundle);
    if (args.input) {
      const input = await readDocument(args.input, '--input');
      process.stdout.write(`${JSON.stringify(engine.evaluate(args.entrypoint, input), null, 2)}\n`);
      return;
    }
    const req: DecideRequest = {
      identity: (await readDocument(args.identity!, '--identity')) as Identity,
      session: args.session ? ((await readDocument(args.session, '--session')) as DecideRequest['session']) : undefined,
      time: args.time ? ((await readDocument(args.time, '--time')) as DecideRequest['time']) : undefined,
      sql: args.sql,
    };
    req.identity.claims ??= {};
    const d = await decide(engine, req);
    const out = {
      outcome: d.outcome,
      deny: d.deny,
      approval: d.approval,
      mask: d.mask,
      detectors: d.detectors,
      tags: d.tags,
      connect: d.connect,
      session: buildSession(req),
      time: buildTime(req),
      statements: d.statements.map((s) => ({ sql: s.facts.sql, kind: s.facts.kind, outcome: s.outcome, decision: s.decision })),
      bundle_sha256: engine.bundleSha256,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  },
};

interface TestArgs {
  dir: string;
  bundle?: string;
  format: 'pretty' | 'json' | 'junit';
  run?: string;
  output?: string;
  verbose: boolean;
  'rego-tests': boolean;
}

const test: CommandModule<object, TestArgs> = {
  command: 'test',
  describe: 'Run policy test cases and Rego test_* rules against the compiled wasm',
  builder: (y) =>
    y
      .option('dir', { type: 'string', default: DEFAULT_POLICY_DIR, describe: 'policy folder: rego/, data/, cases/' })
      .option('bundle', { type: 'string', describe: 'test this built bundle instead of building <dir>' })
      .option('format', { choices: ['pretty', 'json', 'junit'] as const, default: 'pretty' as const })
      .option('run', { type: 'string', describe: 'only tests whose "<file or package> <name>" matches this regex' })
      .option('output', { type: 'string', describe: 'write the report to this file (the summary still goes to stdout)' })
      .option('verbose', { type: 'boolean', default: false, alias: 'v', describe: 'list passing tests too' })
      .option('rego-tests', { type: 'boolean', default: true, describe: 'run Rego-native test_* rules' }),
  handler: async (args) => {
    let run: RegExp | undefined;
    if (args.run) {
      try {
        run = new RegExp(args.run);
      } catch (err) {
        throw new CliError(`--run is not a valid regular expression: ${(err as Error).message}`);
      }
    }
    const live = args.format === 'pretty' && !args.output && process.stdout.isTTY;
    const summary = await runPolicyTests({
      dir: args.dir,
      bundle: args.bundle,
      run,
      regoTests: args['rego-tests'],
      onPhase: (m) => process.stderr.write(`${m}...\n`),
      onResult: live ? (r) => (args.verbose || r.status !== 'passed') && process.stdout.write(`${prettyResult(r)}\n`) : undefined,
    });
    if (summary.results.length === 0) throw new CliError('no tests found (or none matched --run)', 1);
    const report =
      args.format === 'json' ? jsonReport(summary) : args.format === 'junit' ? junitReport(summary) : prettyReport(summary, args);
    if (args.output) {
      await writeFile(args.output, `${report}\n`);
      process.stdout.write(`${args.format} report written to ${args.output}\n${summaryLine(summary)}\n`);
    } else if (live) {
      process.stdout.write(`\nbundle ${summary.bundle.source} sha256:${summary.bundle.sha256}\n${summaryLine(summary)}\n`);
    } else {
      process.stdout.write(`${report}\n`);
      // Keep machine-readable stdout a single document; people still see the count.
      if (args.format !== 'pretty') process.stderr.write(`${summaryLine(summary)}\n`);
    }
    process.exitCode = summary.failed > 0 ? 1 : 0;
  },
};

export const policyCommand: CommandModule = {
  command: 'policy <command>',
  describe: 'Build, evaluate and test Rego policies',
  builder: (y) => y.command(build).command(evaluate).command(test).demandCommand(1),
  handler: () => {},
};
