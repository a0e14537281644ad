// Masking over the wire: for an agent not cleared for the columns, the sensitive values never
// appear in the bytes the gateway sends, whatever shape the query takes.
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';
import { runPsql, type PsqlRun } from '../support/psql.js';
import { startTap, type Tap } from '../support/tap.js';

const SECRETS = ['ada@example.com', 'alan@example.org', '123-45-6789', '987-65-4321', '4111 1111 1111 1111', '5500 0000 0000 0004', 'sk_live_51HxQ2JfA8vX9b0cDeFgHiJk', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'];

let gw: TestGateway;
let tap: Tap;
let agent: pg.Client;

function leaked(): string[] {
  const bytes = tap.received().toString('latin1');
  return SECRETS.filter((s) => bytes.includes(s));
}

beforeAll(async () => {
  gw = await startTestGateway();
  tap = await startTap(gw.port);
  agent = new pg.Client({ ...gw.pgConfig(await gw.token()), port: tap.port });
  await agent.connect();
});

afterAll(async () => {
  await agent?.end();
  await tap?.close();
  await gw?.close();
});

describe('masking over the wire', () => {
  const shapes: [string, string][] = [
    ['plain columns', 'SELECT email, ssn, card_number FROM public.customers'],
    ['an alias', 'SELECT ssn AS x, email AS y FROM customers'],
    ['select *', 'SELECT * FROM customers'],
    ['a view', 'SELECT * FROM public.customer_contacts'],
    ['a join', 'SELECT o.id, c.email, c.ssn FROM public.orders o JOIN public.customers c ON c.id = o.customer_id'],
    ['a subquery', 'SELECT (SELECT ssn FROM customers WHERE id = 1) AS s, (SELECT email FROM customers WHERE id = 2) AS e'],
    ['an expression', 'SELECT upper(email), ssn || \'\' AS s FROM customers'],
    ['row_to_json', 'SELECT row_to_json(c) FROM customers c'],
    ['string_agg', "SELECT string_agg(email || ' ' || ssn, ',') FROM customers"],
    ['secrets tables', 'SELECT u.api_key, k.secret FROM public.users u, public.api_keys k'],
    ['a CTE', 'WITH x AS (SELECT * FROM customers) SELECT * FROM x'],
  ];
  for (const [label, sql] of shapes) {
    it(`masks ${label}`, async () => {
      tap.reset();
      const r = await agent.query(sql);
      expect(r.rowCount).toBeGreaterThan(0); // rows are kept, values masked
      expect(leaked()).toEqual([]);
    });
  }

  it('keeps the number of rows and columns', async () => {
    const r = await agent.query('SELECT id, name, email, ssn FROM customers ORDER BY id');
    expect(r.rows).toHaveLength(2);
    expect(r.fields.map((f) => f.name)).toEqual(['id', 'name', 'email', 'ssn']);
    expect(r.rows[0]).toMatchObject({ id: 1, name: 'Ada Lovelace', email: '***@example.com', ssn: '*******6789' });
  });

  it('masks extended-protocol results, text and binary', async () => {
    tap.reset();
    const t = await agent.query({ text: 'SELECT email, ssn FROM customers WHERE id = $1', values: [1] });
    expect(t.rows[0]).toEqual({ email: '***@example.com', ssn: '*******6789' });
    // node-postgres supports binary results; its QueryConfig type does not declare the flag.
    const b = await agent.query({ text: 'SELECT email, ssn, card_number FROM customers WHERE id = $1', values: [2], binary: true } as pg.QueryConfig);
    expect(b.rowCount).toBe(1);
    expect(leaked()).toEqual([]);
  });

  it('masks rows read through a cursor (pg-query-stream)', async () => {
    tap.reset();
    const rows: unknown[] = [];
    const stream = agent.query(new QueryStream('SELECT id, email, ssn FROM customers ORDER BY id', [], { batchSize: 1 }));
    for await (const row of stream) rows.push(row);
    expect(rows).toHaveLength(2);
    expect(leaked()).toEqual([]);
  });

  it('masks COPY ... TO STDOUT (text and csv)', async () => {
    tap.reset();
    const out = await psql(`\\copy public.customers TO STDOUT\n\\copy (SELECT email, ssn FROM customers) TO STDOUT WITH (FORMAT csv, HEADER)\n`);
    expect(out.stdout).toContain('Ada Lovelace');
    expect(SECRETS.filter((s) => out.stdout.includes(s))).toEqual([]);
  });

  it('refuses binary COPY out of a sensitive table', async () => {
    await expect(agent.query('COPY public.customers TO STDOUT (FORMAT binary)')).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/binary format is not allowed/),
    });
  });

  it('does not echo a sensitive value in an error message', async () => {
    tap.reset();
    // PostgreSQL quotes the offending value: invalid input syntax for type integer: "123-45-6789".
    await expect(agent.query('SELECT ssn::int FROM public.customers')).rejects.toMatchObject({ code: '22P02' });
    await expect(agent.query('SELECT email::json FROM public.customers')).rejects.toMatchObject({ code: '22P02' });
    expect(tap.received().toString('latin1')).toContain('invalid input syntax');
    expect(leaked()).toEqual([]);
    expect((await agent.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('shows a cleared identity the real values (the policy decides clearance)', async () => {
    const dba = new pg.Client(gw.pgConfig(await gw.token({ sub: 'human:dba', kind: 'human', groups: ['dba'], claims: {} })));
    await dba.connect();
    try {
      const r = await dba.query('SELECT email, ssn FROM customers ORDER BY id');
      expect(r.rows[0]).toEqual({ email: 'ada@example.com', ssn: '123-45-6789' });
    } finally {
      await dba.end();
    }
  });
});

async function psql(script: string): Promise<PsqlRun> {
  return runPsql(tap.port, await gw.token(), ['-q'], script);
}

describe('constraint violations on sensitive tables', () => {
  let staging: TestGateway;
  let stagingTap: Tap;
  beforeAll(async () => {
    // In a staging target, writes to customers need no approval: the violation can happen.
    staging = await startTestGateway({ upstream: { environment: 'staging' } });
    stagingTap = await startTap(staging.port);
  });
  afterAll(async () => {
    await stagingTap?.close();
    await staging?.close();
  });

  it('does not echo another customer\'s SSN from a unique violation', async () => {
    const writer = new pg.Client({ ...staging.pgConfig(await staging.token({ groups: ['agents', 'agent-writers'] })), port: stagingTap.port });
    await writer.connect();
    try {
      stagingTap.reset();
      // PostgreSQL reports: Key (ssn)=(987-65-4321) already exists.
      const err = (await writer
        .query('UPDATE public.customers SET ssn = (SELECT ssn FROM public.customers WHERE id = 2) WHERE id = 1')
        .catch((e: unknown) => e)) as { code?: string; detail?: string };
      expect(err.code).toBe('23505');
      expect(err.detail).toMatch(/^Key \(ssn\)=/);
      const bytes = stagingTap.received().toString('latin1');
      expect(SECRETS.filter((x) => bytes.includes(x))).toEqual([]);
    } finally {
      await writer.end();
    }
  });
});
