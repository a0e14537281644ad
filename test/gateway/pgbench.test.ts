// pgbench through the gateway: its initialisation (DDL, COPY, VACUUM) and a short run, simple and
// prepared, under a permissive fixture policy (the default one rightly refuses pgbench -i).
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../policies/build.js';
import { ensureFixtureDb, PG, serverQuery } from '../support/fixture-db.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';
import pg from 'pg';

const run = promisify(execFile);
const DB = 'auditgate_pgbench';
let gw: TestGateway;

const admin = serverQuery;

beforeAll(async () => {
  await ensureFixtureDb(); // creates the upstream roles
  await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  // Owned by the writer role, so pgbench -i may create its tables in public.
  await admin(`CREATE DATABASE ${DB} OWNER auditgate_writer`);
  const dir = await mkdtemp(join(tmpdir(), 'auditgate-permissive-'));
  const { out } = await buildBundle({ dir: join(import.meta.dirname, '..', 'fixtures', 'policies', 'permissive'), out: join(dir, 'permissive.tar.gz') });
  gw = await startTestGateway({ config: { policy: { bundle: out, reload: 'off' } }, upstream: { database: DB } });
});

afterAll(async () => {
  await gw?.close();
  await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
});

async function pgbench(args: string[]): Promise<string> {
  const token = await gw.token();
  const { stdout, stderr } = await run('pgbench', ['-h', '127.0.0.1', '-p', String(gw.port), '-U', 'agent', ...args, DB], {
    env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'disable' },
  });
  return `${stdout}\n${stderr}`;
}

describe('pgbench through the gateway', () => {
  it('initialises its tables (DDL, COPY FROM STDIN, VACUUM, primary keys)', async () => {
    const out = await pgbench(['-i', '-s', '1']);
    expect(out).toMatch(/done in/);
    const c = new pg.Client({ ...PG, database: DB });
    await c.connect();
    const n = await c.query('SELECT count(*)::int AS n FROM pgbench_accounts');
    await c.end();
    expect(n.rows).toEqual([{ n: 100_000 }]);
  });

  for (const protocol of ['simple', 'prepared'] as const) {
    it(`runs a short TPC-B-like workload (${protocol} protocol) without failures`, async () => {
      const out = await pgbench(['-T', '2', '-c', '2', '-j', '2', '-M', protocol, '-n']);
      const processed = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? 0);
      expect(processed).toBeGreaterThan(0);
      expect(out).toMatch(/number of failed transactions: 0 /);
    });
  }
});
