// A throwaway PostgreSQL cluster for tests that need real password authentication and TLS
// (the machine's main server runs with trust auth and cannot test either).
//
//   let pg: ScratchPostgres;
//   beforeAll(async () => { pg = await startScratchPostgres({ users: [...] }); });
//   afterAll(async () => { await pg?.stop(); });
//
// Callers must stop it in afterAll: that runs when tests fail too. As a second line, a
// process 'exit' hook stops clusters the process still owns, and every start reaps clusters
// left behind by processes that died (SIGKILL, crash) before they could clean up.
//
// Runs the server binaries of /usr/lib/postgresql/<v>/bin (newest first), or of
// AUDITGATE_PG_BIN, or from PATH. As root, PostgreSQL refuses to run, so everything runs as
// the `postgres` OS user through runuser, in a temp dir chowned to it.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';

export type ScratchAuth = 'scram-sha-256' | 'md5' | 'password' | 'trust';

export interface ScratchUser {
  name: string;
  password?: string;
  auth: ScratchAuth;
  /** Only a `hostssl` line: the user can connect over TLS only. */
  ssl?: boolean;
}

export interface ScratchPostgres {
  host: string;
  port: number;
  /** The temp dir: holds the cluster (data/), the unix socket, the certificates, the log. */
  dataDir: string;
  /** `postgres`; trusted over the unix socket only. */
  superuser: string;
  /** A database every user may connect to (`postgres`). */
  database: string;
  /** PEM of the CA that signed the server certificate (SAN: DNS localhost, IP 127.0.0.1). */
  caFile: string;
  /** The server's log file, for debugging failed tests. */
  logFile: string;
  /** Seconds from the call to a server accepting connections. */
  startSeconds: number;
  /** Runs SQL as the superuser over the unix socket. */
  query(sql: string): Promise<void>;
  /** pg_ctl stop -m immediate, then removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface ScratchOptions {
  users?: ScratchUser[];
  /** ssl=on with a generated CA and server certificate. Default true. */
  ssl?: boolean;
  /** Directory holding initdb and pg_ctl. Default: $AUDITGATE_PG_BIN, /usr/lib/postgresql/<newest>/bin, $PATH. */
  binDir?: string;
}

/** The users created when `users` is not given (password = name + '-pw'). */
export const DEFAULT_SCRATCH_USERS: ScratchUser[] = [
  { name: 'scram_user', password: 'scram_user-pw', auth: 'scram-sha-256' },
  { name: 'md5_user', password: 'md5_user-pw', auth: 'md5' },
  { name: 'cleartext_user', password: 'cleartext_user-pw', auth: 'password' },
  { name: 'trust_user', auth: 'trust' },
  { name: 'tls_user', password: 'tls_user-pw', auth: 'scram-sha-256', ssl: true },
];

const PREFIX = 'auditgate-scratch-pg-';
const OWNER_FILE = 'owner.pid';
const SUPERUSER = 'postgres';
const NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const owned = new Set<string>();
let exitHookInstalled = false;

export async function startScratchPostgres(opts: ScratchOptions = {}): Promise<ScratchPostgres> {
  const began = performance.now();
  const users = opts.users ?? DEFAULT_SCRATCH_USERS;
  const ssl = opts.ssl ?? true;
  for (const u of users) {
    if (!NAME_RE.test(u.name) || u.name === SUPERUSER) throw new Error(`scratch-postgres: bad user name ${JSON.stringify(u.name)} (use [a-z_][a-z0-9_]*, not ${SUPERUSER})`);
    if (u.auth !== 'trust' && !u.password) throw new Error(`scratch-postgres: user ${u.name} (${u.auth}) needs a password`);
    if (u.ssl && !ssl) throw new Error(`scratch-postgres: user ${u.name} is TLS-only but ssl is off`);
  }
  const bin = findPgBin(opts.binDir);
  const runAs = postgresRunner();
  reapOrphans();

  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  owned.add(dir);
  installExitHook();
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  let started = false;
  const stop = async (): Promise<void> => {
    if (!owned.has(dir)) return;
    owned.delete(dir);
    await client?.end().catch(() => undefined);
    if (started || existsSync(join(data, 'postmaster.pid'))) {
      await run(runAs, join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], dir).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  let client: pg.Client | undefined;

  try {
    if (runAs.chown) chownSync(dir, runAs.chown.uid, runAs.chown.gid);
    await run(runAs, join(bin, 'initdb'), ['-D', data, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], dir);

    let caFile = '';
    if (ssl) {
      caFile = join(dir, 'ca.crt');
      await makeCertificates(dir, runAs);
    }

    const hba = ['# written by test/support/scratch-postgres.ts', `local all ${SUPERUSER} trust`];
    for (const u of users) hba.push(`${u.ssl ? 'hostssl' : 'host'} all ${u.name} 127.0.0.1/32 ${u.auth}`);
    writeFileSync(join(data, 'pg_hba.conf'), hba.join('\n') + '\n');
    if (runAs.chown) chownSync(join(data, 'pg_hba.conf'), runAs.chown.uid, runAs.chown.gid);

    // A port can be taken between probing and binding: retry on a fresh one.
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const conf = [
        '',
        '# scratch-postgres',
        `listen_addresses = '127.0.0.1'`,
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'wal_level = minimal',
        'max_wal_senders = 0',
        'autovacuum = off',
        'max_connections = 30',
        'shared_buffers = 16MB',
        'dynamic_shared_memory_type = posix',
        'log_min_messages = warning',
        'log_connections = off',
        `ssl = ${ssl ? 'on' : 'off'}`,
        ...(ssl ? [`ssl_cert_file = '${join(dir, 'server.crt')}'`, `ssl_key_file = '${join(dir, 'server.key')}'`] : []),
      ];
      appendFileSync(join(data, 'postgresql.conf'), conf.join('\n') + '\n');
      try {
        await run(runAs, join(bin, 'pg_ctl'), ['-D', data, '-l', logFile, '-w', '-t', '60', 'start'], dir);
        started = true;
        break;
      } catch (e) {
        const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
        if (attempt < 3 && /could not (bind|create listen socket)/i.test(log)) continue;
        throw new Error(`${(e as Error).message}\n--- server log ---\n${log}`);
      }
    }

    client = new pg.Client({ host: dir, port, user: SUPERUSER, database: 'postgres' });
    await client.connect();
    const c = client;
    for (const u of users) {
      const pw = u.password === undefined ? 'NULL' : literal(u.password);
      if (u.auth === 'md5') await c.query(`SET password_encryption = 'md5'`);
      await c.query(`CREATE ROLE ${u.name} LOGIN PASSWORD ${pw}`);
      if (u.auth === 'md5') await c.query('RESET password_encryption');
    }

    return {
      host: '127.0.0.1',
      port,
      dataDir: dir,
      superuser: SUPERUSER,
      database: 'postgres',
      caFile,
      logFile,
      startSeconds: (performance.now() - began) / 1000,
      async query(sql: string): Promise<void> {
        await c.query(sql);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function findPgBin(binDir: string | undefined): string {
  const candidates: string[] = [];
  if (binDir !== undefined) {
    candidates.push(binDir);
  } else {
    if (process.env.AUDITGATE_PG_BIN) candidates.push(process.env.AUDITGATE_PG_BIN);
    const base = '/usr/lib/postgresql';
    if (existsSync(base)) {
      const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
      for (const v of versions) candidates.push(join(base, v, 'bin'));
    }
    for (const p of (process.env.PATH ?? '').split(delimiter)) if (p) candidates.push(p);
  }
  for (const dir of candidates) {
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error(
    `scratch-postgres: initdb/pg_ctl not found (looked in ${binDir ?? '$AUDITGATE_PG_BIN, /usr/lib/postgresql/*/bin, $PATH'}). ` +
      'Install the PostgreSQL server binaries (e.g. apt-get install postgresql) or set AUDITGATE_PG_BIN to their bin directory.',
  );
}

interface Runner {
  /** Prefix that runs a command as the postgres OS user ([] when we are not root). */
  prefix: string[];
  chown?: { uid: number; gid: number };
}

function postgresRunner(): Runner {
  if (!isRoot) return { prefix: [] };
  let uid: number;
  let gid: number;
  try {
    const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${SUPERUSER}:`));
    if (!passwd) throw new Error('no entry');
    const f = passwd.split(':');
    uid = Number(f[2]);
    gid = Number(f[3]);
  } catch {
    throw new Error(`scratch-postgres: running as root, but there is no "${SUPERUSER}" OS user to run PostgreSQL as (PostgreSQL refuses to run as root)`);
  }
  return { prefix: ['runuser', '-u', SUPERUSER, '--'], chown: { uid, gid } };
}

function run(runner: Runner, cmd: string, args: string[], cwd: string): Promise<string> {
  const [file, ...rest] = [...runner.prefix, cmd, ...args] as [string, ...string[]];
  return new Promise((resolve, reject) => {
    // cwd: the temp dir, which the postgres user can read (it may not be able to read ours).
    execFile(file, rest, { cwd, env: { ...process.env, LC_ALL: 'C' }, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`scratch-postgres: ${[cmd, ...args].join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

async function makeCertificates(dir: string, runner: Runner): Promise<void> {
  const ossl = (args: string[]): Promise<string> => run({ prefix: [] }, 'openssl', args, dir);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await ossl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=auditgate scratch CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await ossl(['req', '-x509', ...ec, '-keyout', 'server.key', '-out', 'server.crt', '-days', '2', '-subj', '/CN=localhost',
    '-CA', 'ca.crt', '-CAkey', 'ca.key',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'extendedKeyUsage=serverAuth']);
  // Sanity: the server certificate really chains to the CA (a broken openssl call must not
  // show up later as a confusing TLS test failure).
  const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
  const leaf = new X509Certificate(readFileSync(join(dir, 'server.crt')));
  if (!leaf.verify(ca.publicKey) || !leaf.checkIP('127.0.0.1')) throw new Error('scratch-postgres: generated server certificate does not chain to the CA');
  rmSync(join(dir, 'ca.key'));
  if (runner.chown) {
    for (const f of ['server.key', 'server.crt', 'ca.crt']) chownSync(join(dir, f), runner.chown.uid, runner.chown.gid);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills the postmaster of a cluster dir synchronously (SIGQUIT = immediate shutdown) and removes the dir. */
function killSync(dir: string): void {
  const pidFile = join(dir, 'data', 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    // Only a postmaster of this very cluster (a stale pid may have been reused by anything).
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      /* gone, or no /proc */
    }
    if (pid > 0 && cmdline.includes('postgres') && cmdline.includes(dir)) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        /* already gone */
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Clusters whose owning process is gone (killed test workers) are stopped and removed. */
function reapOrphans(): void {
  const base = tmpdir();
  let entries: string[];
  try {
    entries = readdirSync(base).filter((e) => e.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const e of entries) {
    const dir = join(base, e);
    try {
      const st = statSync(dir);
      if (!st.isDirectory()) continue;
      const ownerFile = join(dir, OWNER_FILE);
      if (!existsSync(ownerFile)) {
        // Being created right now by another process, or very old junk: leave recent ones.
        if (Date.now() - st.mtimeMs > 10 * 60_000) killSync(dir);
        continue;
      }
      const owner = Number(readFileSync(ownerFile, 'utf8'));
      if (owner > 0 && !pidAlive(owner)) killSync(dir);
    } catch {
      /* another process reaped it first */
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const dir of owned) killSync(dir);
  });
}
