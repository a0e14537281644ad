// Real clients through the gateway: node-postgres (simple, extended, prepared, cursor, cancel,
// binary, transactions, pipelining) and psql (\d, \dt, \copy both ways, a denial mid-session).
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serialize } from 'pg-protocol';
import { FIXTURE_DB, directQuery } from '../support/fixture-db.js';
import { rawLogin, typeOf } from '../support/raw-client.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';
import { runPsql, type PsqlRun } from '../support/psql.js';

let gw: TestGateway;
let reader: pg.Client;
let writer: pg.Client;

async function client(groups: string[] = ['agents']): Promise<pg.Client> {
  const c = new pg.Client(gw.pgConfig(await gw.token({ groups })));
  await c.connect();
  return c;
}

beforeAll(async () => {
  gw = await startTestGateway();
  reader = await client();
  writer = await client(['agents', 'agent-writers']);
});

afterAll(async () => {
  await reader?.end();
  await writer?.end();
  await gw?.close();
});

describe('node-postgres through the gateway', () => {
  it('runs simple and extended queries with parameters', async () => {
    expect((await reader.query('SELECT 1 AS one, current_user AS who')).rows).toEqual([{ one: 1, who: 'auditgate_reader' }]);
    const r = await reader.query('SELECT id, status FROM public.orders WHERE id = $1 AND status = $2', [3, 'open']);
    expect(r.rows).toEqual([{ id: 3, status: 'open' }]);
  });

  it('runs a named prepared statement repeatedly', async () => {
    const q = { name: 'order_by_id', text: 'SELECT id FROM public.orders WHERE id = $1' };
    expect((await reader.query({ ...q, values: [1] })).rows).toEqual([{ id: 1 }]);
    expect((await reader.query({ ...q, values: [2] })).rows).toEqual([{ id: 2 }]);
  });

  it('streams 50,000 rows through a cursor in order', async () => {
    let n = 0;
    let last = 0;
    const stream = reader.query(new QueryStream('SELECT id FROM scratch.big ORDER BY id', [], { batchSize: 1000 }));
    for await (const row of stream as AsyncIterable<{ id: number }>) {
      n++;
      expect(row.id).toBe(last + 1);
      last = row.id;
    }
    expect(n).toBe(50_000);
  });

  it('returns binary results', async () => {
    const r = await reader.query({ text: 'SELECT 42::int4 AS n, $1::text AS t', values: ['hi'], binary: true } as pg.QueryConfig);
    expect(r.rows).toHaveLength(1);
    expect(Buffer.isBuffer(r.rows[0].n) || typeof r.rows[0].n === 'number').toBe(true);
  });

  it('cancels a long query through the gateway and keeps the session', async () => {
    const c = await client();
    try {
      const started = Date.now();
      const running = c.query('SELECT pg_sleep(30)');
      await new Promise((r) => setTimeout(r, 300));
      // node-postgres cancels with a CancelRequest on a new connection, using the key the gateway gave it.
      const canceller = new pg.Client(gw.pgConfig('unused'));
      (canceller as unknown as { cancel(c: pg.Client, q: unknown): void }).cancel(c, (c as unknown as { activeQuery: unknown }).activeQuery);
      await expect(running).rejects.toMatchObject({ code: '57014' });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await c.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    } finally {
      await c.end();
    }
  });

  it('denies in the extended protocol and goes on', async () => {
    await expect(reader.query('DELETE FROM public.orders WHERE id = $1', [1])).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/^auditgate: denied: .*read-only/),
    });
    expect((await reader.query('SELECT $1::int AS x', [5])).rows).toEqual([{ x: 5 }]);
  });

  it('runs nothing of a string whose second statement is forbidden', async () => {
    const marker = `mark-${Date.now()}`;
    await expect(writer.query(`INSERT INTO scratch.notes (body) VALUES ('${marker}'); GRANT ALL ON public.customers TO PUBLIC`)).rejects.toMatchObject({
      code: '42501',
    });
    expect((await directQuery('SELECT count(*)::int AS n FROM scratch.notes WHERE body = $1', [marker])).rows).toEqual([{ n: 0 }]);
  });

  it('writes where the policy allows (a writer agent, a non-production table)', async () => {
    const marker = `ok-${Date.now()}`;
    await writer.query('INSERT INTO scratch.notes (body) VALUES ($1)', [marker]);
    expect((await directQuery('SELECT count(*)::int AS n FROM scratch.notes WHERE body = $1', [marker])).rows).toEqual([{ n: 1 }]);
  });

  it('aborts a transaction block on a denial, as PostgreSQL does after an error', async () => {
    const marker = `tx-${Date.now()}`;
    await writer.query('BEGIN');
    await writer.query('INSERT INTO scratch.notes (body) VALUES ($1)', [marker]);
    await expect(writer.query('DELETE FROM scratch.notes')).rejects.toMatchObject({ code: '42501' });
    await expect(writer.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await writer.query('ROLLBACK');
    expect((await directQuery('SELECT count(*)::int AS n FROM scratch.notes WHERE body = $1', [marker])).rows).toEqual([{ n: 0 }]);
    expect((await writer.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
  });

  it('commits a transaction block of allowed statements', async () => {
    const marker = `commit-${Date.now()}`;
    await writer.query('BEGIN');
    await writer.query('INSERT INTO scratch.notes (body) VALUES ($1)', [marker]);
    await writer.query('COMMIT');
    expect((await directQuery('SELECT count(*)::int AS n FROM scratch.notes WHERE body = $1', [marker])).rows).toEqual([{ n: 1 }]);
  });

  it('relays NOTICE and ParameterStatus messages', async () => {
    const notices: string[] = [];
    writer.on('notice', (n) => notices.push(n.message ?? ''));
    await writer.query('DROP TABLE IF EXISTS scratch.does_not_exist');
    expect(notices).toContainEqual(expect.stringMatching(/does not exist, skipping/));
    // ParameterStatus: the server reports the new application_name; the gateway passes it on.
    const raw = await rawLogin(gw.port, await gw.token(), FIXTURE_DB);
    raw.messages.length = 0;
    raw.send(serialize.query("SET application_name = 'renamed-by-agent'"));
    const msgs = await raw.until('Z');
    const status = msgs.find((m) => typeOf(m) === 'S');
    expect(status?.toString('utf8', 5)).toContain('application_name\0renamed-by-agent\0');
    raw.socket.destroy();
  });

  it('answers pipelined queries in order, denials included', async () => {
    const results = await Promise.allSettled([
      reader.query('SELECT 1 AS n'),
      reader.query('DELETE FROM public.orders'),
      reader.query('SELECT $1::int AS n', [3]),
      reader.query('GRANT ALL ON public.orders TO PUBLIC'),
      reader.query('SELECT 5 AS n'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<pg.QueryResult>).value.rows[0].n)).toEqual([1, 3, 5]);
  });
});

async function psql(args: string[], input = '', groups = ['agents']): Promise<PsqlRun> {
  return runPsql(gw.port, await gw.token({ groups }), args, input);
}

describe('psql through the gateway', () => {
  it('runs queries, \\d and \\dt', async () => {
    const r = await psql(['-At', '-c', 'SELECT count(*) FROM public.orders', '-c', '\\dt public.*', '-c', '\\d public.orders']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('20\n');
    expect(r.stdout).toMatch(/public\|orders\|table\|postgres/);
    expect(r.stdout).toMatch(/customer_id\|integer/);
  });

  it('reports a denial and runs the next statement of the session', async () => {
    const r = await psql(['-At'], 'DELETE FROM public.orders;\nSELECT 7;\n');
    expect(r.stderr).toMatch(/ERROR:\s+auditgate: denied: .*without WHERE/);
    expect(r.stdout.trim()).toBe('7');
  });

  it('\\copy in (writer agent, non-production table) and \\copy out', async () => {
    const marker = `copy-${Date.now()}`;
    const into = await psql(['-At', '-c', '\\copy scratch.notes (body) FROM STDIN'], `${marker}-1\n${marker}-2\n\\.\n`, ['agents', 'agent-writers']);
    expect(into.stderr).toBe('');
    expect(into.stdout).toContain('COPY 2');
    expect((await directQuery('SELECT count(*)::int AS n FROM scratch.notes WHERE body LIKE $1', [`${marker}-%`])).rows).toEqual([{ n: 2 }]);
    const out = await psql(['-At', '-c', '\\copy (SELECT id, status FROM public.orders WHERE id <= 3 ORDER BY id) TO STDOUT']);
    expect(out.stdout).toBe('1\topen\n2\topen\n3\topen\n');
  });
});
