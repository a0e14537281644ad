// Starts PgBouncer (Debian's package; installed on first use when apt-get is available) in
// session mode in front of a PostgreSQL, for comparison runs. It refuses to run as root, so it
// runs as the postgres user from a temp dir that user owns.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = '/usr/sbin/pgbouncer';

export interface RunningPgbouncer {
  port: number;
  /** PgBouncer's own process (runuser's child), from its pidfile: for CPU accounting. */
  pid: number | null;
  stop(): Promise<void>;
}


export async function ensurePgbouncer(log: (m: string) => void): Promise<void> {
  if (existsSync(BIN)) return;
  log('installing pgbouncer from Debian (apt-get)');
  await run('apt-get', ['install', '-y', '-qq', 'pgbouncer'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).catch(async () => {
    await run('apt-get', ['update', '-qq']);
    await run('apt-get', ['install', '-y', '-qq', 'pgbouncer'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  });
}

export async function startPgbouncer(upstream: { host: string; port: number; database: string }, poolSize: number): Promise<RunningPgbouncer> {
  const dir = await mkdtemp(join(tmpdir(), 'auditgate-pgbouncer-'));
  const port = await freePort();
  await writeFile(join(dir, 'userlist.txt'), '"postgres" ""\n');
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${upstream.database} = host=${upstream.host} port=${upstream.port} dbname=${upstream.database}`,
      '[pgbouncer]',
      `listen_addr = 127.0.0.1`,
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = session',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 200',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  await run('chown', ['-R', 'postgres:postgres', dir]);
  await chmod(dir, 0o755);
  const child: ChildProcess = spawn('runuser', ['-u', 'postgres', '--', BIN, join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
  // Ready when it accepts connections.
  for (let i = 0; i < 50; i++) {
    const ok = await run('pg_isready', ['-h', '127.0.0.1', '-p', String(port)]).then(
      () => true,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = await readFile(join(dir, 'pgbouncer.pid'), 'utf8').then((t) => Number(t.trim()) || null, () => null);
  return {
    port,
    pid,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
