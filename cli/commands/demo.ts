// `auditgate demo [--out DIR] [--keep-running]`: the whole pipeline on an embedded PostgreSQL
// with a scripted agent session (demo/run.ts), narrated on stdout. docs/demo.md.
import type { CommandModule } from 'yargs';
import { DemoError, runDemo } from '../../demo/run.js';
import { OutputDirError } from '../../demo/output-dir.js';
import { CliError } from '../errors.js';

interface DemoArgs {
  out: string;
  'keep-running': boolean;
}

/** Resolves on the first Ctrl-C (or SIGTERM); the handlers are removed again, so a second Ctrl-C ends the process the usual way. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Run the whole pipeline on an embedded PostgreSQL with a scripted agent session, and leave a verified evidence packet to open',
  builder: (y) =>
    y
      .option('out', { type: 'string', default: './auditgate-demo', describe: 'Folder for everything the demo writes (replaces an earlier demo output; refuses any other non-empty folder)' })
      .option('keep-running', { type: 'boolean', default: false, describe: 'Leave the gateway and the approvals page up to try by hand, until Ctrl-C' })
      .example('$0 demo', '')
      .example('$0 demo --out /tmp/demo --keep-running', '') as never,
  handler: async (args) => {
    try {
      await runDemo({
        out: args.out,
        keepRunning: args['keep-running'],
        write: (t) => process.stdout.write(t),
        untilStopped: untilSignal,
      });
    } catch (err) {
      if (err instanceof OutputDirError) throw new CliError(err.message, 2);
      if (err instanceof DemoError) throw new CliError(`demo: ${err.message}`, 1);
      throw err;
    }
  },
};
