// Runs pgbench and reads what it measured: TPS from its summary, latency percentiles from its
// per-transaction log (-l), failures from its counters.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PgbenchTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
}

export interface PgbenchResult {
  tps: number;
  transactions: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
}

export interface PgbenchRun {
  /** pgbench's built-in script: select-only (-S) or simple-update (-N). */
  script: 'select-only' | 'simple-update';
  protocol: 'simple' | 'prepared';
  clients: number;
  seconds: number;
}

export async function pgbench(target: PgbenchTarget, r: PgbenchRun): Promise<PgbenchResult> {
  const logDir = await mkdtemp(join(tmpdir(), 'auditgate-pgbench-'));
  try {
    const args = [
      '-h', target.host, '-p', String(target.port), '-U', target.user,
      r.script === 'select-only' ? '-S' : '-N',
      '-M', r.protocol, '-c', String(r.clients), '-j', String(Math.min(r.clients, 2)), '-T', String(r.seconds),
      '-n', '-l', '--log-prefix', join(logDir, 'tx'), target.database,
    ];
    const { stdout } = await run('pgbench', args, {
      env: { ...process.env, PGPASSWORD: target.password ?? '', PGSSLMODE: 'disable' },
      maxBuffer: 16 * 1024 * 1024,
    });
    const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? NaN);
    const transactions = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? NaN);
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
    const latencies: number[] = [];
    for (const f of await readdir(logDir)) {
      for (const line of (await readFile(join(logDir, f), 'utf8')).split('\n')) {
        const us = Number(line.split(' ')[2]);
        if (Number.isFinite(us) && line) latencies.push(us);
      }
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]! / 1000 : NaN);
    return { tps, transactions, failed, p50Ms: pct(50), p99Ms: pct(99) };
  } finally {
    await rm(logDir, { recursive: true, force: true });
  }
}

/** pgbench -i on a target (scale factor s). */
export async function pgbenchInit(target: PgbenchTarget, scale: number): Promise<void> {
  await run('pgbench', ['-i', '-q', '-s', String(scale), '-h', target.host, '-p', String(target.port), '-U', target.user, target.database], {
    env: { ...process.env, PGPASSWORD: target.password ?? '' },
  });
}
