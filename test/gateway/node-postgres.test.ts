// node-postgres (pg 8, pg-query-stream 4) through a real gateway under the default policy: the
// simple and extended protocols, named statements, a cursor, cancel, binary results, denials in
// every protocol position, transactions, and pipelining (queued, and pg's wire-level pipeline mode).
import { connect } from 'node:net';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import QueryStream from 'pg-query-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_DB, PG, directQuery } from '../support/fixture-db.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';
import { rawLogin, typeOf } from '../support/raw-client.js';

const WRITERS = ['agents', 'agent-writers'];
/** Not in @types/pg: Client#cancel(client, query) and the key from BackendKeyData. */
interface PgCancel {
  cancel(client: pg.Client, query: pg.Query): void;
}
interface BackendKey {
  processID: number;
  secretKey: number;
}
let gw: TestGateway;
let reader: pg.Client;
let writer: pg.Client;
const extra: pg.Client[] = [];

async function client(groups: string[] = ['agents'], options: Record<string, unknown> = {}): Promise<pg.Client> {
  const c = new pg.Client(gw.pgConfig(await gw.token({ groups }), options));
  c.on('error', () => {}); // a test that breaks a session asserts on the query instead
  await c.connect();
  extra.push(c);
  return c;
}

async function notes(body: string): Promise<number> {
  const r = await directQuery('SELECT count(*)::int AS n FROM scratch.notes WHERE body = $1', [body]);
  return r.rows[0].n as number;
}

const marker = (what: string) => `${what}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  gw = await startTestGateway();
  reader = await client();
  writer = await client(WRITERS);
});

afterAll(async () => {
  await Promise.all(extra.map((c) => c.end().catch(() => {})));
  await gw?.close();
});

describe('node-postgres: queries', () => {
  it('runs simple queries as the role the policy picked', async () => {
    const r = await reader.query('SELECT 1 AS one, current_user AS who, count(*)::int AS orders FROM public.orders');
    expect(r.rows).toEqual([{ one: 1, who: 'auditgate_reader', orders: 20 }]);
    expect(r.command).toBe('SELECT');
    expect((await writer.query('SELECT current_user AS who')).rows).toEqual([{ who: 'auditgate_writer' }]);
  });

  it('runs extended queries with parameters (text in, typed out)', async () => {
    const r = await reader.query('SELECT id, status, total FROM public.orders WHERE id = ANY($1::int[]) AND status = $2 ORDER BY id', [[3, 4], 'open']);
    expect(r.rows).toEqual([
      { id: 3, status: 'open', total: '3.00' },
      { id: 4, status: 'open', total: '4.00' },
    ]);
    expect(r.fields.map((f) => f.name)).toEqual(['id', 'status', 'total']);
    expect((await reader.query('SELECT $1::text IS NULL AS isnull', [null])).rows).toEqual([{ isnull: true }]);
  });

  it('runs a named prepared statement twice, parsed once', async () => {
    const q1 = { name: 'q1', text: 'SELECT id, status FROM public.orders WHERE id = $1' };
    expect((await reader.query({ ...q1, values: [1] })).rows).toEqual([{ id: 1, status: 'open' }]);
    // node-postgres sends only Bind/Execute now: the gateway must still know what q1 runs.
    expect((await reader.query({ ...q1, values: [2] })).rows).toEqual([{ id: 2, status: 'open' }]);
    expect((await reader.query({ name: 'q1', text: q1.text, values: [20] })).rows).toEqual([{ id: 20, status: 'open' }]);
  });

  it('streams all 50,000 rows of scratch.big through a cursor (Execute with a row limit), in order', async () => {
    let n = 0;
    let last = 0;
    let ordered = true;
    const stream = reader.query(new QueryStream('SELECT id, payload FROM scratch.big ORDER BY id', [], { batchSize: 777 }));
    for await (const row of stream as AsyncIterable<{ id: number; payload: string }>) {
      if (row.id !== last + 1 || row.payload.length !== 32) ordered = false;
      last = row.id;
      n++;
    }
    expect(ordered).toBe(true);
    expect(n).toBe(50_000);
    expect(last).toBe(50_000);
    // The session is in a clean state afterwards.
    expect((await reader.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('returns binary results with the right values, byte for byte as PostgreSQL sends them', async () => {
    const query = {
      text: 'SELECT 42::int4 AS n, 9007199254740::int8 AS big, 1.5::float8 AS f, true AS b, $1::text AS t, id, created_at FROM public.orders WHERE id = $2',
      values: ['hi', 7],
      binary: true,
    };
    const r = await reader.query(query as pg.QueryConfig);
    expect(r.rows).toHaveLength(1);
    const row = r.rows[0] as Record<string, unknown>;
    expect(row).toMatchObject({ n: 42, b: true, t: 'hi', id: 7 });
    expect(row.created_at).toBeInstanceOf(Date);
    // Every value as pg hands it to a type parser equals what a direct client gets. (pg decodes
    // DataRow fields as UTF-8 before parsing, so its binary float8/int8 are lossy with or without
    // a gateway; relay-protocol.test.ts compares binary rows byte for byte.)
    const raw = { ...query, types: { getTypeParser: () => (v: Buffer) => v.toString('hex') } };
    const direct = new pg.Client({ ...PG, user: 'auditgate_reader', database: FIXTURE_DB });
    await direct.connect();
    try {
      const expected = (await direct.query(raw as pg.QueryConfig)).rows;
      expect((await reader.query(raw as pg.QueryConfig)).rows).toEqual(expected);
    } finally {
      await direct.end();
    }
  });
});

describe('node-postgres: server messages', () => {
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
});

describe('node-postgres: cancel', () => {
  it('cancels a long query through the gateway (57014, quickly) and the session goes on', async () => {
    const c = await client();
    const started = Date.now();
    const query = new pg.Query('SELECT pg_sleep(30)');
    const outcome = new Promise<{ code?: string }>((resolve) => {
      query.on('error', (err) => resolve(err as { code?: string }));
      query.on('end', () => resolve({ code: 'completed' }));
    });
    c.query(query);
    await new Promise((r) => setTimeout(r, 300));
    // pg 8 cancels with a CancelRequest on a new connection carrying the key from BackendKeyData:
    // here the gateway's key, which it maps to the upstream backend's.
    (new pg.Client(gw.pgConfig('not-used-by-a-cancel')) as unknown as PgCancel).cancel(c, query);
    const err = await outcome;
    expect(err.code).toBe('57014');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await c.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });

  it('ignores a cancel with a key the gateway did not hand out', async () => {
    const c = await client();
    const query = new pg.Query('SELECT pg_sleep(0.8) AS slept');
    const done = new Promise<string>((resolve) => {
      query.on('error', (err) => resolve((err as { code?: string }).code ?? 'error'));
      query.on('end', () => resolve('completed'));
    });
    c.query(query);
    await new Promise((r) => setTimeout(r, 200));
    // A CancelRequest as pg sends it, with the right process id and a wrong secret.
    const socket = connect(gw.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const key = c as unknown as BackendKey;
    socket.end(serialize.cancel(key.processID, (key.secretKey ^ 0x5a5a) | 0));
    expect(await done).toBe('completed');
  });
});

describe('node-postgres: denials', () => {
  it('denies in the extended protocol with 42501 and the next query on the client works', async () => {
    await expect(reader.query('DELETE FROM public.orders WHERE id = $1', [1])).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/^auditgate: denied: .*read-only/),
    });
    expect((await reader.query('SELECT $1::int AS x', [5])).rows).toEqual([{ x: 5 }]);
    // A denied named statement is not left behind under that name.
    await expect(reader.query({ name: 'bad1', text: 'DELETE FROM public.orders WHERE id = $1', values: [1] })).rejects.toMatchObject({ code: '42501' });
    expect((await reader.query({ name: 'good1', text: 'SELECT $1::int AS y', values: [6] })).rows).toEqual([{ y: 6 }]);
    expect((await directQuery('SELECT count(*)::int AS n FROM public.orders WHERE id = 1')).rows).toEqual([{ n: 1 }]);
  });

  it('runs nothing of a multi-statement string whose second statement is forbidden', async () => {
    const body = marker('multi');
    await expect(writer.query(`INSERT INTO scratch.notes (body) VALUES ('${body}'); GRANT ALL ON public.customers TO PUBLIC`)).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/GRANT/),
    });
    expect(await notes(body)).toBe(0);
    const grants = await directQuery(`SELECT count(*)::int AS n FROM information_schema.role_table_grants WHERE table_name = 'customers' AND grantee = 'PUBLIC'`);
    expect(grants.rows).toEqual([{ n: 0 }]);
    // The same INSERT alone is allowed: the denial was the GRANT's.
    await writer.query(`INSERT INTO scratch.notes (body) VALUES ('${body}')`);
    expect(await notes(body)).toBe(1);
  });

  it('holds production writes for approval (denied until approvals exist) but lets a writer write to scratch', async () => {
    await expect(writer.query("UPDATE public.orders SET status = 'x' WHERE id = $1", [1])).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/approval required: UPDATE on production table public\.orders/),
    });
    const body = marker('scratch');
    expect((await writer.query('INSERT INTO scratch.notes (body) VALUES ($1) RETURNING body', [body])).rows).toEqual([{ body }]);
    expect(await notes(body)).toBe(1);
  });
});

describe('node-postgres: transactions', () => {
  it('commits a transaction block', async () => {
    const body = marker('commit');
    await writer.query('BEGIN');
    await writer.query('INSERT INTO scratch.notes (body) VALUES ($1)', [body]);
    expect(await notes(body)).toBe(0); // not visible outside before COMMIT
    await writer.query('COMMIT');
    expect(await notes(body)).toBe(1);
  });

  it('rolls back a transaction block', async () => {
    const body = marker('rollback');
    await writer.query('BEGIN');
    await writer.query('INSERT INTO scratch.notes (body) VALUES ($1)', [body]);
    expect((await writer.query('SELECT count(*)::int AS n FROM scratch.notes WHERE body = $1', [body])).rows).toEqual([{ n: 1 }]);
    await writer.query('ROLLBACK');
    expect(await notes(body)).toBe(0);
  });

  it('aborts the transaction on a denial inside it: 25P02 until ROLLBACK, as after any error', async () => {
    const body = marker('tx-denied');
    await writer.query('BEGIN');
    await writer.query('INSERT INTO scratch.notes (body) VALUES ($1)', [body]);
    await expect(writer.query('DELETE FROM scratch.notes')).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/without WHERE/) });
    await expect(writer.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await expect(writer.query('SELECT $1::int', [1])).rejects.toMatchObject({ code: '25P02' });
    // COMMIT of an aborted transaction rolls back (PostgreSQL reports ROLLBACK).
    expect((await writer.query('COMMIT')).command).toBe('ROLLBACK');
    expect(await notes(body)).toBe(0);
    expect((await writer.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
  });

  it('aborts the transaction on a denial in the extended protocol too', async () => {
    await writer.query('BEGIN');
    await expect(writer.query('UPDATE scratch.notes SET body = $1', ['x'])).rejects.toMatchObject({ code: '42501' });
    await expect(writer.query('SELECT $1::int AS x', [1])).rejects.toMatchObject({ code: '25P02' });
    await writer.query('ROLLBACK');
    expect((await writer.query('SELECT $1::int AS x', [2])).rows).toEqual([{ x: 2 }]);
  });
});

describe('node-postgres: pipelining', () => {
  it('answers queued queries in order, denials included', async () => {
    const results = await Promise.allSettled([
      reader.query('SELECT 1 AS n'),
      reader.query('DELETE FROM public.orders'),
      reader.query('SELECT $1::int AS n', [3]),
      reader.query('GRANT ALL ON public.orders TO PUBLIC'),
      reader.query({ name: 'pipe_q', text: 'SELECT $1::int + 2 AS n', values: [3] }),
      reader.query({ name: 'pipe_q', text: 'SELECT $1::int + 2 AS n', values: [5] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const values = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.rows[0].n as number] : []));
    expect(values).toEqual([1, 3, 5, 7]);
  });

  it('answers queries pipelined on the wire (pg pipeline mode): named statements, denials, errors', async () => {
    const c = await client(['agents'], { pipeline: true });
    const stmt = { name: 'wire_q', text: 'SELECT $1::int * 10 AS n' };
    const results = await Promise.allSettled([
      c.query({ ...stmt, values: [1] }), // Parse + Bind
      c.query({ ...stmt, values: [2] }), // Bind only, while the Parse is still in flight
      c.query('DELETE FROM public.orders WHERE id = $1', [1]), // denied
      c.query({ ...stmt, values: [3] }),
      c.query('SELECT 1 / $1::int AS n', [0]), // an error of the database's own
      c.query('SELECT $1::int AS n', [40]),
      c.query({ ...stmt, values: [5] }),
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.rows[0].n : (r.reason as { code: string }).code))).toEqual([10, 20, '42501', 30, '22012', 40, 50]);
    await c.end();
  });
});
