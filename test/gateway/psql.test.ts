// psql 15 through a real gateway under the default policy: queries, its catalog commands (\d,
// \dt), \gdesc (Parse + Describe of a statement), \copy both ways, a denial in the middle of a
// session (and how psql reports it in its exit code), a transaction aborted by a denial, and
// Ctrl-C (SIGINT: psql's own CancelRequest).
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_DB, directQuery } from '../support/fixture-db.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';
import { runPsql, type PsqlRun } from '../support/psql.js';

const WRITERS = ['agents', 'agent-writers'];
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
});

async function psql(args: string[], input = '', groups = ['agents']): Promise<PsqlRun> {
  return runPsql(gw.port, await gw.token({ groups }), ['-v', 'ON_ERROR_STOP=0', ...args], input);
}

const marker = (what: string) => `${what}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

async function notesLike(prefix: string): Promise<string[]> {
  const r = await directQuery('SELECT body FROM scratch.notes WHERE body LIKE $1 ORDER BY id', [`${prefix}%`]);
  return r.rows.map((row: { body: string }) => row.body);
}

describe('psql: queries and catalog commands', () => {
  it('runs queries', async () => {
    const r = await psql(['-At', '-c', 'SELECT count(*) FROM public.orders', '-c', 'SELECT current_user', '-c', "SELECT status, count(*) FROM public.orders GROUP BY status"]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('20\nauditgate_reader\nopen|20\n');
  });

  it('lists tables with \\dt and describes one with \\d (columns, indexes, references)', async () => {
    const dt = await psql(['-At', '-c', '\\dt public.*']);
    expect(dt.code).toBe(0);
    expect(dt.stdout.trim().split('\n')).toEqual(
      expect.arrayContaining(['public|customers|table|postgres', 'public|orders|table|postgres', 'public|order_items|table|postgres', 'public|api_keys|table|postgres']),
    );
    const d = await psql(['-c', '\\d public.orders']);
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/Table "public\.orders"/);
    expect(d.stdout).toMatch(/ customer_id \| integer\s+\|/);
    expect(d.stdout).toMatch(/"orders_pkey" PRIMARY KEY, btree \(id\)/);
    expect(d.stdout).toMatch(/"orders_customer_id_fkey" FOREIGN KEY \(customer_id\) REFERENCES customers\(id\)/);
    expect(d.stdout).toMatch(/TABLE "order_items" CONSTRAINT "order_items_order_id_fkey"/);
  });

  it('describes a statement without running it (\\gdesc: Parse, then Describe of the statement)', async () => {
    const r = await psql(['-At'], 'SELECT id, status, total FROM public.orders WHERE id = 1 \\gdesc\nSELECT 5 AS five;\n');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('id|integer\nstatus|text\ntotal|numeric(10,2)\n5\n');
  });
});

describe('psql: \\copy', () => {
  it('copies rows in from stdin (writer agent, non-production table)', async () => {
    const m = marker('copy-in');
    const r = await psql(['-At', '-c', '\\copy scratch.notes (body) FROM STDIN'], `${m}-1\n${m}-2\n${m}-3\n\\.\n`, WRITERS);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('COPY 3\n');
    expect(await notesLike(m)).toEqual([`${m}-1`, `${m}-2`, `${m}-3`]);
  });

  it('copies a query out to stdout', async () => {
    const r = await psql(['-At', '-c', '\\copy (SELECT id, status FROM public.orders ORDER BY id) TO STDOUT']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(Array.from({ length: 20 }, (_, i) => `${i + 1}\topen\n`).join(''));
  });

  it('refuses \\copy in for a read-only agent, and nothing is written', async () => {
    const m = marker('copy-denied');
    const r = await psql(['-At', '-c', '\\copy scratch.notes (body) FROM STDIN'], `${m}\n\\.\n`);
    expect(r.stderr).toBe('ERROR:  auditgate: denied: COPY FROM on scratch.notes is not allowed: the session is read-only (role auditgate_reader)\n');
    expect(r.code).toBe(1);
    expect(await notesLike(m)).toEqual([]);
  });
});

describe('psql: denials in a session', () => {
  it('reports a denied statement and runs the next one; exit code 0 without ON_ERROR_STOP', async () => {
    const r = await psql(['-At'], 'DELETE FROM public.orders;\nSELECT 7;\n');
    expect(r.stderr).toMatch(/^(psql:<stdin>:1: )?ERROR:\s+auditgate: denied: .*DELETE on public\.orders without WHERE/m);
    expect(r.stdout).toBe('7\n');
    expect(r.code).toBe(0);
    expect((await directQuery('SELECT count(*)::int AS n FROM public.orders')).rows).toEqual([{ n: 20 }]);
  });

  it('stops at the denial with ON_ERROR_STOP=1 (exit code 3)', async () => {
    const r = await runPsql(gw.port, await gw.token(), ['-At', '-v', 'ON_ERROR_STOP=1'], "SELECT pg_read_file('/etc/passwd');\nSELECT 8;\n");
    expect(r.stderr).toMatch(/ERROR:\s+auditgate: denied: function pg_read_file\(\) is not allowed: reads files on the database server/);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(3);
  });

  it('aborts a transaction on a denial, as PostgreSQL does after an error, until ROLLBACK', async () => {
    const m = marker('psql-tx');
    const script = `BEGIN;\nINSERT INTO scratch.notes (body) VALUES ('${m}');\nDELETE FROM scratch.notes;\nSELECT 1;\nROLLBACK;\nSELECT 'after';\n`;
    const r = await psql(['-At'], script, WRITERS);
    expect(r.stdout).toBe('BEGIN\nINSERT 0 1\nROLLBACK\nafter\n');
    expect(r.stderr).toMatch(/ERROR:\s+auditgate: denied: DELETE on scratch\.notes without WHERE/);
    expect(r.stderr).toMatch(/ERROR:\s+current transaction is aborted, commands ignored until end of transaction block/);
    expect(await notesLike(m)).toEqual([]);
  });
});

describe('psql: cancel', () => {
  it('cancels a running statement on SIGINT (psql sends the CancelRequest) within a second or two', async () => {
    const token = await gw.token();
    const child = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(gw.port), '-U', 'agent', '-d', FIXTURE_DB, '-At', '-c', 'SELECT pg_sleep(30)'], {
      env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'disable' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise((r) => setTimeout(r, 700));
    const started = Date.now();
    child.kill('SIGINT');
    const code = await exited;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(stderr).toMatch(/Cancel request sent/);
    expect(stderr).toMatch(/ERROR:\s+canceling statement due to user request/);
    expect(code).toBe(1);
  });
});
