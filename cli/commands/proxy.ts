import type { CommandModule } from 'yargs';
import { ConfigError, describeConfig, loadConfig } from '../../proxy/config/load.js';
import { startGateway } from '../../proxy/server.js';
import { createLogger } from '../../proxy/session/logger.js';
import { CliError } from '../errors.js';

interface ProxyArgs {
  config: string;
  [key: string]: unknown;
}

const OWN = new Set(['config', 'c', '_', '$0', 'help', 'h', 'version']);

/** yargs turns `--listen.port 7000` into {listen: {port: 7000}}: back to dotted keys for the config loader. */
function overridesFrom(args: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (prefix: string, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(`${prefix}.${k}`, v);
    } else out[prefix] = value;
  };
  for (const [k, v] of Object.entries(args)) {
    if (OWN.has(k) || k.includes('-')) continue; // yargs adds camel/kebab aliases; keep one spelling
    walk(k, v);
  }
  return out;
}

export const proxyCommand: CommandModule<object, ProxyArgs> = {
  command: 'proxy',
  describe: 'Run the gateway: agents connect to it as to PostgreSQL (see docs/gateway.md)',
  builder: (y) =>
    y
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'gateway config (YAML), see auditgate.example.yaml' })
      .strict(false)
      .example('$0 proxy --config auditgate.yaml', '')
      .example('$0 proxy --config auditgate.yaml --listen.port 7000 --log.level debug', 'any config key can be overridden') as never,
  handler: async (args) => {
    let config;
    try {
      config = await loadConfig(args.config, overridesFrom(args));
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(`invalid configuration, the gateway did not start:\n${err.message}`);
      throw err;
    }
    const log = createLogger({ level: config.log.level, format: config.log.format });
    for (const line of describeConfig(config).split('\n')) log.info(line);
    const running = await startGateway(config, { log });
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { signal, sessions: running.gateway.activeSessions });
      running.close().then(() => process.exit(0));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    await new Promise(() => {}); // runs until a signal
  },
};
