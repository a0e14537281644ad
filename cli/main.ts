#!/usr/bin/env node
// The one front door: yargs commands that parse flags, call the modules, print.
import yargs, { type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { packageVersion } from '../policies/locations.js';
import { CliError } from './errors.js';

// Each command's module, loaded on demand: `auditgate proxy` (a long-running process, measured
// for memory) must not carry DuckDB or PGlite, which other commands need (~35 MB of RSS).
const COMMANDS: Record<string, () => Promise<CommandModule<any, any>>> = {
  proxy: async () => (await import('./commands/proxy.js')).proxyCommand,
  token: async () => (await import('./commands/token.js')).tokenCommand,
  policy: async () => (await import('./commands/policy.js')).policyCommand,
  analyze: async () => (await import('./commands/analyze.js')).analyzeCommand,
  'verify-log': async () => (await import('./commands/verify-log.js')).verifyLogCommand,
  collect: async () => (await import('./commands/collect.js')).collectCommand,
  query: async () => (await import('./commands/query.js')).queryCommand,
  replay: async () => (await import('./commands/replay.js')).replayCommand,
  approvals: async () => (await import('./commands/approvals.js')).approvalsCommand,
  access: async () => (await import('./commands/access.js')).accessCommand,
  report: async () => (await import('./commands/report.js')).reportCommand,
  verify: async () => (await import('./commands/verify.js')).verifyCommand,
  export: async () => (await import('./commands/export.js')).exportCommand,
  keygen: async () => (await import('./commands/keygen.js')).keygenCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
};

// The named command alone when the first argument names one; every command otherwise (help, typos).
const first = hideBin(process.argv)[0];
const chosen = first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS);
const commands = await Promise.all(chosen.map((name) => COMMANDS[name]!()));

await commands
  .reduce((y, c) => y.command(c), yargs(hideBin(process.argv)))
  .scriptName('auditgate')
  .usage('$0 <command> [options]\n\nMakes AI coding agents\' database access auditable.')
  .demandCommand(1, 'Name a command; see --help.')
  .strict()
  .version(packageVersion())
  .help()
  .alias('h', 'help')
  .wrap(Math.min(110, process.stdout.columns || 110))
  .fail((msg, err, y) => {
    if (err) {
      // Our own errors are explanations, not crashes: no stack trace.
      process.stderr.write(`auditgate: ${err.message}\n`);
      process.exit(err instanceof CliError ? err.exitCode : 2);
    }
    process.stderr.write(`${y.help()}\n\n${msg}\n`);
    process.exit(2);
  })
  .parseAsync();
