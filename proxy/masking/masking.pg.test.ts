// Against the real PostgreSQL on 127.0.0.1:5432 (database test): raw backend messages from a wire
// connection go through ResultMasker; the sensitive values must never appear in what it returns.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatementDecision } from '../../policies/contract.js';
import { CatalogResolver } from './catalog.js';
import { MaskingError } from './datarow.js';
import { DETECTOR_NAMES } from './detectors.js';
import { ResultMasker, type CopyOutFacts } from './masker.js';
import { REDACTED } from './methods.js';
import { PG_TEST, RawConnection, errorFields, readDataRow, typeOf, uniqueSchema } from './test-support.js';

const S = uniqueSchema();
const S2 = `${S}_b`;

const SECRETS = [
  'ann.lee@acme-corp.com',
  'ANN.LEE@ACME-CORP.COM',
  'bob.stone@example.org',
  'BOB.STONE@EXAMPLE.ORG',
  '123-45-6789',
  '078-05-1120',
  '4111 1111 1111 1111',
  '5555-5555-5555-4444',
];
// Values that are not sensitive and must come through.
const PLAIN = ['Ann Lee', 'Bob Stone'];

const sensitiveDecision: Pick<StatementDecision, 'mask' | 'detectors' | 'tags'> = {
  mask: [
    { column: `${S}.customers.card_number`, method: 'partial' },
    { column: `${S}.customers.email`, method: 'email' },
    { column: `${S}.customers.ssn`, method: 'partial' },
  ],
  detectors: [...DETECTOR_NAMES],
  tags: ['sensitive'],
};
const emptyDecision = { mask: [], detectors: [], tags: [] };

let conn: RawConnection;
let pool: pg.Pool;
let resolver: CatalogResolver;

beforeAll(async () => {
  pool = new pg.Pool({ ...PG_TEST, max: 2 });
  conn = await RawConnection.open();
  const setup = await conn.query(`
    create schema ${S};
    create table ${S}.customers (
      id int primary key, name text not null, email text not null, ssn text, card_number varchar(25),
      info jsonb, age int);
    create unique index customers_ssn_key on ${S}.customers (ssn);
    insert into ${S}.customers values
      (1, 'Ann Lee', 'ann.lee@acme-corp.com', '123-45-6789', '4111 1111 1111 1111', '{"tier": "gold"}', 41),
      (2, 'Bob Stone', 'bob.stone@example.org', '078-05-1120', '5555-5555-5555-4444', null, null);
    create table ${S}.orders (id int primary key, customer_id int references ${S}.customers (id), total numeric);
    insert into ${S}.orders values (10, 1, 99.5), (11, 2, 12);
    create view ${S}.customer_v as
      select id, name, ssn as tax_id, upper(email) as email_upper, card_number from ${S}.customers;
    create view ${S}.customer_vv as select tax_id, email_upper from ${S}.customer_v;
    create materialized view ${S}.customer_mv as select id, ssn, lower(email) as e from ${S}.customers;
    create table ${S}.events (id int, ssn text) partition by range (id);
    create table ${S}.events_1 partition of ${S}.events for values from (0) to (100);
    insert into ${S}.events values (1, '123-45-6789');
    create schema ${S2};
    create table ${S2}.customers (x int);
  `);
  const err = setup.find((m) => typeOf(m) === 'E');
  if (err) throw new Error(errorFields(err).M);
  resolver = new CatalogResolver(pool);
});

afterAll(async () => {
  await conn?.query(`drop schema if exists ${S} cascade; drop schema if exists ${S2} cascade`);
  await conn?.close();
  await pool?.end();
});

interface RunOptions {
  decision?: Pick<StatementDecision, 'mask' | 'detectors' | 'tags'>;
  binary?: boolean;
  copy?: CopyOutFacts;
  classified?: Record<string, string>;
  touchedSensitive?: boolean;
}

async function run(sql: string, o: RunOptions = {}): Promise<{ raw: Buffer[]; out: Buffer[]; masker: ResultMasker }> {
  const raw = o.binary ? await conn.extended(sql, { binary: true }) : await conn.query(sql);
  const masker = new ResultMasker({
    decision: o.decision ?? sensitiveDecision,
    resolver,
    hashKey: 'integration-test-key',
    defaultMethod: 'redact',
    touchedSensitive: o.touchedSensitive ?? true,
    ...(o.classified ? { classified: o.classified } : {}),
  });
  const out: Buffer[] = [];
  for (const m of raw) {
    switch (typeOf(m)) {
      case 'T':
        out.push(await masker.onRowDescription(m));
        break;
      case 'D':
        out.push(masker.onDataRow(m));
        break;
      case 'H':
        out.push(await masker.onCopyOutResponse(m, o.copy ?? { table: null }));
        break;
      case 'd':
        out.push(masker.onCopyData(m));
        break;
      case 'E':
      case 'N':
        out.push(masker.onErrorOrNotice(m));
        break;
      default:
        out.push(m);
    }
  }
  return { raw, out, masker };
}

function expectNoSecrets(out: Buffer[]): string {
  const text = Buffer.concat(out).toString('latin1');
  for (const s of SECRETS) expect(text, `leaked ${s}`).not.toContain(s);
  return text;
}

/** Same number of rows and of columns per row as PostgreSQL sent. */
function expectSameShape(raw: Buffer[], out: Buffer[]): void {
  const shape = (ms: Buffer[]) => ms.filter((m) => typeOf(m) === 'D').map((m) => readDataRow(m).length);
  expect(shape(out)).toEqual(shape(raw));
  expect(out.filter((m) => typeOf(m) === 'd').length).toBe(raw.filter((m) => typeOf(m) === 'd').length);
}

const rows = (out: Buffer[]) => out.filter((m) => typeOf(m) === 'D').map((m) => readDataRow(m).map((v) => (v === null ? null : v.toString('utf8'))));

describe('masking DataRows from PostgreSQL', () => {
  it('precondition: the raw results do contain the secrets', async () => {
    const { raw } = await run(`select * from ${S}.customers order by id`);
    expect(Buffer.concat(raw).toString('latin1')).toContain('123-45-6789');
  });

  it('plain columns, by their origin', async () => {
    const { raw, out, masker } = await run(`select id, name, email, ssn, card_number from ${S}.customers order by id`);
    expectNoSecrets(out);
    expectSameShape(raw, out);
    expect(rows(out)).toEqual([
      ['1', 'Ann Lee', '***@acme-corp.com', '*******6789', '***************1111'],
      ['2', 'Bob Stone', '***@example.org', '*******1120', '***************4444'],
    ]);
    expect(masker.counts()).toEqual(
      expect.arrayContaining([
        { column: `${S}.customers.ssn`, method: 'partial', reason: 'column', count: 2 },
        { column: `${S}.customers.email`, method: 'email', reason: 'column', count: 2 },
      ]),
    );
  });

  it('aliases do not hide a column', async () => {
    const { out } = await run(`select ssn as x, email as "Contact" from ${S}.customers`);
    expectNoSecrets(out);
    expect(rows(out)[0]).toEqual(['*******6789', '***@acme-corp.com']);
  });

  it('select *', async () => {
    const { raw, out } = await run(`select * from ${S}.customers`);
    const text = expectNoSecrets(out);
    expectSameShape(raw, out);
    for (const p of PLAIN) expect(text).toContain(p);
  });

  it('a view, and a view over a view', async () => {
    const { raw, out, masker } = await run(`select * from ${S}.customer_v order by id`);
    expectNoSecrets(out);
    expectSameShape(raw, out);
    expect(rows(out)[0]).toEqual(['1', 'Ann Lee', '*******6789', REDACTED, '***************1111']);
    expect(masker.currentPlan()!.columns.map((c) => c.reason)).toEqual([null, null, 'view', 'unknown-origin', 'view']);
    const nested = await run(`select * from ${S}.customer_vv`);
    expectNoSecrets(nested.out);
    expect(nested.masker.currentPlan()!.columns.map((c) => [c.method, c.reason])).toEqual([
      ['partial', 'view'],
      ['redact', 'unknown-origin'],
    ]);
  });

  it('a view the policy saw only by its name: masked through the classification', async () => {
    const { out, masker } = await run(`select * from ${S}.customer_v`, {
      decision: emptyDecision,
      touchedSensitive: false,
      classified: { [`${S}.customers.ssn`]: 'partial', [`${S}.customers.email`]: 'email', [`${S}.customers.card_number`]: 'partial' },
    });
    expectNoSecrets(out);
    expect(masker.currentPlan()!.columns.map((c) => c.reason)).toEqual([null, null, 'classified', 'unknown-origin', 'classified']);
  });

  it('joins, subqueries, CTEs', async () => {
    for (const sql of [
      `select o.id, c.email, c.ssn from ${S}.orders o join ${S}.customers c on c.id = o.customer_id`,
      `select x from (select ssn as x from ${S}.customers) q`,
      `with q as (select email, ssn from ${S}.customers) select * from q`,
      `select (select ssn from ${S}.customers where id = 1) as s`,
    ]) {
      const { raw, out } = await run(sql);
      expectNoSecrets(out);
      expectSameShape(raw, out);
    }
  });

  it('expressions, casts, aggregates, set operations: unknown origin, masked', async () => {
    for (const sql of [
      `select upper(email) from ${S}.customers`,
      `select ssn::varchar, card_number::text from ${S}.customers`,
      `select row_to_json(c) from ${S}.customers c`,
      `select string_agg(email, ',') from ${S}.customers`,
      `select ssn from ${S}.customers union all select 'x'`,
      `select coalesce(ssn, '') || '' from ${S}.customers`,
      `select json_agg(c) from ${S}.customers c`,
    ]) {
      const { raw, out, masker } = await run(sql);
      expectNoSecrets(out);
      expectSameShape(raw, out);
      expect(masker.counts().some((c) => c.reason === 'unknown-origin' && c.count > 0), sql).toBe(true);
    }
  });

  it('row_to_json stays valid JSON; hits of the detectors are counted', async () => {
    const { out, masker } = await run(`select row_to_json(c) from ${S}.customers c where id = 1`);
    expect(JSON.parse(rows(out)[0]![0]!)).toBe(REDACTED);
    expect(masker.detectorHits()).toMatchObject({ email: 1, ssn: 1, card_number: 1 });
  });

  it('whole-row references of a table with masked columns', async () => {
    const { out, masker } = await run(`select c from ${S}.customers c`);
    expectNoSecrets(out);
    expect(masker.currentPlan()!.columns[0]!.reason).toBe('whole-row');
  });

  it('a materialized view', async () => {
    const { out, masker } = await run(`select * from ${S}.customer_mv order by id`);
    expectNoSecrets(out);
    expect(masker.currentPlan()!.columns.map((c) => [c.action, c.reason])).toEqual([
      ['pass', null],
      ['mask', 'view'],
      ['mask', 'unknown-origin'],
    ]);
  });

  it('RETURNING carries origins', async () => {
    const { out, masker } = await run(`update ${S}.customers set age = age where id = 1 returning id, ssn, email`);
    expectNoSecrets(out);
    expect(masker.currentPlan()!.columns.map((c) => c.reason)).toEqual([null, 'column', 'column']);
  });

  it('FETCH from a cursor: the decision saw no table, the classification still masks', async () => {
    const { out, masker } = await run(
      `begin; declare cur cursor for select id, ssn, email from ${S}.customers; fetch all cur; commit`,
      { decision: emptyDecision, touchedSensitive: false, classified: { [`${S}.customers.ssn`]: 'partial', [`${S}.customers.email`]: 'email' } },
    );
    expectNoSecrets(out);
    expect(masker.currentPlan()!.columns.map((c) => c.reason)).toEqual([null, 'classified', 'classified']);
  });

  it('partitions answer to their parent table name', async () => {
    const decision = { ...sensitiveDecision, mask: [{ column: `${S}.events.ssn`, method: 'redact' }] };
    const { out } = await run(`select * from ${S}.events_1`, { decision });
    expectNoSecrets(out);
    expect(rows(out)).toEqual([['1', REDACTED]]);
  });

  it('binary format (extended protocol)', async () => {
    const { raw, out } = await run(`select id, ssn, email, card_number, info, age, upper(name) from ${S}.customers where id = 1`, { binary: true });
    expectNoSecrets(out);
    expectSameShape(raw, out);
    const [row] = out.filter((m) => typeOf(m) === 'D').map(readDataRow);
    expect(row![0]!.readInt32BE(0)).toBe(1); // int4, binary, untouched
    expect(row![1]!.toString()).toBe('*******6789');
    expect(row![2]!.toString()).toBe('***@acme-corp.com');
    expect(row![3]!.toString()).toBe('***************1111');
    expect(row![4]!.subarray(1).toString()).toBe('{"tier": "gold"}'); // jsonb not masked
    expect(row![5]!.readInt32BE(0)).toBe(41);
    expect(row![6]!.toString()).toBe(REDACTED);
  });

  it('binary format, unknown origin of a non-text type becomes NULL', async () => {
    const { out } = await run(`select length(ssn), ssn::bytea from ${S}.customers where id = 1`, { binary: true });
    const [row] = out.filter((m) => typeOf(m) === 'D').map(readDataRow);
    expect(row).toEqual([null, null]);
  });

  it('a statement that is not sensitive passes untouched, the same Buffers', async () => {
    const { raw, out } = await run(`select id, total from ${S}.orders`, { decision: emptyDecision, touchedSensitive: false });
    expect(out.every((m, i) => m === raw[i])).toBe(true);
  });
});

describe('masking COPY TO STDOUT', () => {
  const table = { schema: S, name: 'customers' };

  it('text format, columns placed by the table definition', async () => {
    const { raw, out } = await run(`copy ${S}.customers to stdout`, { copy: { table, format: 'text' } });
    expectNoSecrets(out);
    expectSameShape(raw, out);
    const lines = out.filter((m) => typeOf(m) === 'd').map((m) => m.subarray(5).toString());
    expect(lines).toContain('1\tAnn Lee\t***@acme-corp.com\t*******6789\t***************1111\t{"tier": "gold"}\t41\n');
  });

  it('csv format with a header, and a column list', async () => {
    const { out } = await run(`copy ${S}.customers to stdout (format csv, header)`, { copy: { table, format: 'csv', header: true } });
    expectNoSecrets(out);
    const lines = out.filter((m) => typeOf(m) === 'd').map((m) => m.subarray(5).toString());
    expect(lines[0]).toBe('id,name,email,ssn,card_number,info,age\n');
    expect(lines).toContain('1,Ann Lee,"***@acme-corp.com","*******6789","***************1111","{""tier"": ""gold""}",41\n');
    const cols = await run(`copy ${S}.customers (ssn, name) to stdout (format csv)`, { copy: { table, columns: ['ssn', 'name'], format: 'csv' } });
    expectNoSecrets(cols.out);
    expect(cols.out.filter((m) => typeOf(m) === 'd').map((m) => m.subarray(5).toString())).toContain('"*******6789",Ann Lee\n');
  });

  it('COPY (query): every field masked', async () => {
    const { out, masker } = await run(`copy (select name, email from ${S}.customers) to stdout (format csv)`, { copy: { table: null, format: 'csv' } });
    expectNoSecrets(out);
    const lines = out.filter((m) => typeOf(m) === 'd').map((m) => m.subarray(5).toString());
    expect(lines[0]).toBe(`"${REDACTED}","${REDACTED}"\n`);
    expect(masker.detectorHits()).toMatchObject({ email: 2 });
  });

  it('an unqualified name the catalog cannot place unambiguously: every field masked', async () => {
    const ambiguous = new CatalogResolver(new pg.Pool({ ...PG_TEST, max: 1, options: `-c search_path=${S}` }));
    try {
      const cols = await ambiguous.tableColumns(null, 'customers');
      expect(cols).toMatchObject({ schema: S, table: 'customers', ambiguous: true });
      const m = new ResultMasker({ decision: sensitiveDecision, resolver: ambiguous, hashKey: 'k' });
      const raw = await conn.query(`copy ${S}.customers to stdout`);
      const out: Buffer[] = [];
      for (const msg of raw) {
        if (typeOf(msg) === 'H') out.push(await m.onCopyOutResponse(msg, { table: { schema: null, name: 'customers' } }));
        else if (typeOf(msg) === 'd') out.push(m.onCopyData(msg));
      }
      expectNoSecrets(out);
      const lines = out.filter((x) => typeOf(x) === 'd').map((x) => x.subarray(5).toString());
      expect(lines).toHaveLength(2);
      for (const line of lines) {
        const fields = line.slice(0, -1).split('\t');
        expect(fields).toHaveLength(7);
        expect(fields.every((f) => f === REDACTED || f === '\\N')).toBe(true); // NULLs stay NULL
      }
    } finally {
      await (ambiguous as unknown as { db: pg.Pool }).db.end();
    }
  });

  it('binary COPY of a sensitive table is refused', async () => {
    const raw = await conn.query(`copy ${S}.customers to stdout (format binary)`);
    const m = new ResultMasker({ decision: sensitiveDecision, resolver, hashKey: 'k' });
    const h = raw.find((x) => typeOf(x) === 'H')!;
    await expect(m.onCopyOutResponse(h, { table, format: 'binary' })).rejects.toThrow(MaskingError);
    // not sensitive: relayed as is
    const quiet = new ResultMasker({ decision: emptyDecision, resolver, hashKey: 'k' });
    expect(await quiet.onCopyOutResponse(h, { table, format: 'binary' })).toBe(h);
  });
});

describe('masking errors from PostgreSQL', () => {
  it('a unique violation does not echo the duplicate value', async () => {
    const { raw, out } = await run(`insert into ${S}.customers values (3, 'Eve', 'eve@x.org', '123-45-6789', null, null, null)`);
    expect(errorFields(raw.find((m) => typeOf(m) === 'E')!).D).toContain('123-45-6789');
    expectNoSecrets(out);
    const f = errorFields(out.find((m) => typeOf(m) === 'E')!);
    expect(f.C).toBe('23505');
    expect(f.D).toBe(`Key (ssn)=(${REDACTED}) already exists.`);
  });

  it('a cast error does not echo the value', async () => {
    const { out } = await run(`select ssn::int from ${S}.customers`);
    expectNoSecrets(out);
    expect(errorFields(out.find((m) => typeOf(m) === 'E')!).M).toBe(`invalid input syntax for type integer: "${REDACTED}"`);
  });

  it('a not-null violation does not echo the failing row', async () => {
    const { out } = await run(`update ${S}.customers set name = null where id = 1`);
    expectNoSecrets(out);
  });

  it('JSON errors do not echo the value (detail token, context line)', async () => {
    const { raw, out } = await run(`select ssn::json from ${S}.customers where id = 1`);
    const before = errorFields(raw.find((m) => typeOf(m) === 'E')!);
    expect(`${before.D} ${before.W}`).toContain('123-45'); // PostgreSQL echoes a prefix of the value
    const f = errorFields(out.find((m) => typeOf(m) === 'E')!);
    expect(`${f.M} ${f.D} ${f.W}`).not.toContain('123');
    expect(`${f.M} ${f.D} ${f.W}`).not.toContain('-45');
    expect(f.W).toBe(`JSON data, line 1: ${REDACTED}`);
  });

  it('a notice raised with a value', async () => {
    const { out } = await run(`do $$ begin raise notice 'found %', (select email from ${S}.customers where id = 2); end $$`);
    expectNoSecrets(out);
    expect(errorFields(out.find((m) => typeOf(m) === 'N')!).M).toBe('found [redacted:email]');
  });
});

describe('CatalogResolver against PostgreSQL', () => {
  it('resolves through views, caches, batches, invalidates', async () => {
    const r = new CatalogResolver(pool);
    const raw = await conn.query(`select * from ${S}.customer_vv`);
    const t = raw.find((m) => typeOf(m) === 'T')!;
    const { readRowDescription } = await import('./wire.js');
    const fields = readRowDescription(t);
    const first = await r.resolve(fields);
    expect(first[0]).toMatchObject({ relation: { schema: S, table: 'customer_vv', relkind: 'v' }, exact: true, viaView: true });
    expect(first[0]!.sources.map((s) => `${s.table}.${s.column}`)).toEqual(['customer_vv.tax_id', 'customer_v.tax_id', 'customers.ssn']);
    expect(first[1]).toMatchObject({ exact: false });
    expect(first[1]!.tables.map((x) => x.table)).toEqual(expect.arrayContaining(['customer_v', 'customers']));
    const queries = r.queries;
    expect(queries).toBeLessThanOrEqual(3); // one per view level
    await r.resolve(fields);
    expect(r.queries).toBe(queries); // cached
    r.invalidate();
    await r.resolve(fields);
    expect(r.queries).toBeGreaterThan(queries);
  });

  it('one catalog query for a RowDescription of plain tables', async () => {
    const r = new CatalogResolver(pool);
    const raw = await conn.query(`select c.*, o.total from ${S}.customers c join ${S}.orders o on o.customer_id = c.id`);
    const { readRowDescription } = await import('./wire.js');
    const res = await r.resolve(readRowDescription(raw.find((m) => typeOf(m) === 'T')!));
    expect(r.queries).toBe(1);
    expect(res.map((x) => x!.column)).toEqual(['id', 'name', 'email', 'ssn', 'card_number', 'info', 'age', 'total']);
  });

  it('expires entries after the TTL', async () => {
    let now = 0;
    const r = new CatalogResolver(pool, { ttlMs: 1000, now: () => now });
    const raw = await conn.query(`select ssn from ${S}.customers limit 0`);
    const { readRowDescription } = await import('./wire.js');
    const fields = readRowDescription(raw.find((m) => typeOf(m) === 'T')!);
    await r.resolve(fields);
    now = 500;
    await r.resolve(fields);
    expect(r.queries).toBe(1);
    now = 1500;
    await r.resolve(fields);
    expect(r.queries).toBe(2);
  });

  it('tableColumns and baseTables', async () => {
    const r = new CatalogResolver(pool);
    expect(await r.tableColumns(S, 'customers')).toMatchObject({
      columns: ['id', 'name', 'email', 'ssn', 'card_number', 'info', 'age'],
      types: [23, 25, 25, 25, 1043, 3802, 23],
      ambiguous: false,
    });
    expect(await r.tableColumns(null, 'no_such_table_here')).toBeNull();
    const base = await r.baseTables([{ schema: S, name: 'customer_vv' }]);
    expect(base.map((t) => t.table).sort()).toEqual(['customer_v', 'customer_vv', 'customers']);
  });

  it('a catalog failure fails closed', async () => {
    const broken = { resolve: async () => Promise.reject(new Error('catalog down')), tableColumns: async () => null };
    const m = new ResultMasker({ decision: sensitiveDecision, resolver: broken, hashKey: 'k' });
    const raw = await conn.query(`select name, ssn from ${S}.customers`);
    const out: Buffer[] = [];
    for (const msg of raw) {
      if (typeOf(msg) === 'T') out.push(await m.onRowDescription(msg));
      else if (typeOf(msg) === 'D') out.push(m.onDataRow(msg));
    }
    expectNoSecrets(out);
    expect(m.catalogError?.message).toBe('catalog down');
    expect(rows(out)[0]).toEqual([REDACTED, REDACTED]);
  });
});
