#!/usr/bin/env node
// The one front door: yargs commands that parse flags, call the modules, print.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { packageVersion } from '../policies/locations.js';
import { analyzeCommand } from './commands/analyze.js';
import { policyCommand } from './commands/policy.js';
import { proxyCommand } from './commands/proxy.js';
import { tokenCommand } from './commands/token.js';
import { keygenCommand } from './commands/keygen.js';
import { verifyLogCommand } from './commands/verify-log.js';
import { collectCommand } from './commands/collect.js';
import { queryCommand } from './commands/query.js';
import { replayCommand } from './commands/replay.js';
import { approvalsCommand } from './commands/approvals.js';
import { accessCommand } from './commands/access.js';
import { verifyCommand } from './commands/verify.js';
import { reportCommand } from './commands/report.js';
import { exportCommand } from './commands/export.js';
import { demoCommand } from './commands/demo.js';
import { CliError } from './errors.js';

await yargs(hideBin(process.argv))
  .scriptName('auditgate')
  .usage('$0 <command> [options]\n\nMakes AI coding agents\' database access auditable.')
  .command(proxyCommand)
  .command(tokenCommand)
  .command(policyCommand)
  .command(analyzeCommand)
  .command(verifyLogCommand)
  .command(collectCommand)
  .command(queryCommand)
  .command(replayCommand)
  .command(approvalsCommand)
  .command(accessCommand)
  .command(reportCommand)
  .command(verifyCommand)
  .command(exportCommand)
  .command(keygenCommand)
  .command(demoCommand)
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
