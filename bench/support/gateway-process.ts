// The gateway as users run it, for benchmarks: `auditgate proxy` in its own process with the
// default policy and the development issuer, plus a token for a writer agent.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { freePort } from './ports.js';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { PACKAGE_ROOT } from '../../policies/locations.js';

const run = promisify(execFile);
const CLI = join(PACKAGE_ROOT, 'dist', 'cli', 'main.js');

export interface RunningGatewayProcess {
  port: number;
  pid: number;
  token: string;
  /** The config file the process runs with (its recording paths are relative to it). */
  configFile: string;
  stop(): Promise<void>;
  /** SIGKILL: a crash, nothing flushed or sealed. */
  kill(): Promise<void>;
}


async function waitReady(port: number, child: ChildProcess, output: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`gateway exited (${child.exitCode}): ${output()}`);
    const ok = await run('pg_isready', ['-h', '127.0.0.1', '-p', String(port)]).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gateway did not start: ${output()}`);
}

export async function startGatewayProcess(
  dir: string,
  upstream: { host: string; port: number; database: string },
  opts: { port?: number; config?: Record<string, unknown>; /** Extra node flags for the gateway process (e.g. --cpu-prof). */ nodeArgs?: string[]; /** Extra environment for the gateway process. */ env?: Record<string, string> } = {},
): Promise<RunningGatewayProcess> {
  const port = opts.port ?? (await freePort());
  const config = {
    listen: { host: '127.0.0.1', port },
    identity: { issuers: [], dev_issuer: true },
    upstream: {
      name: 'bench',
      environment: 'production',
      ...upstream,
      tls: { mode: 'disable' },
      roles: { auditgate_reader: { user: 'auditgate_reader', password: null }, auditgate_writer: { user: 'auditgate_writer', password: null } },
      catalog_role: 'auditgate_reader',
    },
    policy: { reload: 'off' },
    log: { level: 'warn' },
    ...opts.config,
  };
  const file = join(dir, 'auditgate.yaml');
  await writeFile(file, stringify(config));
  const env = { ...process.env, AUDITGATE_HOME: join(dir, 'home') };
  const { stdout: token } = await run(process.execPath, [
    CLI, 'token', '--sub', 'agent:bench', '--groups', 'agents,agent-writers', '--claims', '{"model":"bench","repository":"acme/bench"}', '--ttl', '7200',
  ], { env });
  let out = '';
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), CLI, 'proxy', '--config', file], { env: { ...env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitReady(port, child, () => out);
  return {
    port,
    pid: child.pid!,
    token: token.trim(),
    configFile: file,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

