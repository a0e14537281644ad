// The relay at the protocol level. First, parity: the same bytes sent to PostgreSQL directly and
// through the gateway (same upstream role) must get the same answers, message for message:
// extended protocol, Describe, row limits and PortalSuspended, Flush, error-until-Sync, COPY both
// ways in both protocols, transactions, pipelined segments. Then what a raw client can try against
// the relay's knowledge of prepared statements and portals: every execution is decided on what
// PostgreSQL actually holds under a name.
import { connect, type Socket } from 'node:net';
import { serialize as P } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readErrorFields } from '../../proxy/protocol/backend.js';
import { MessageFramer } from '../../proxy/protocol/framer.js';
import { FIXTURE_DB, PG, directQuery } from '../support/fixture-db.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';

const WRITERS = ['agents', 'agent-writers'];
const TAG = `relay-parity-${process.pid}`;
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
  await directQuery('DELETE FROM scratch.notes WHERE body LIKE $1', [`${TAG}%`]);
});

/** One server message, reduced to what parity compares (data rows byte for byte). */
function show(m: Buffer): string {
  const t = String.fromCharCode(m[0]!);
  switch (t) {
    case 'E':
    case 'N':
      return `${t}:${readErrorFields(m).get('C')}`;
    case 'C':
      return `C:${m.toString('utf8', 5, m.length - 1)}`;
    case 'Z':
      return `Z:${String.fromCharCode(m[5]!)}`;
    case 'D':
    case 'd':
    case 'T':
    case 't':
      return `${t}:${m.subarray(5).toString('hex')}`;
    default:
      return t;
  }
}

interface Wire {
  /** Sends bytes and resolves once `done` holds for what arrived since the last call (or after a timeout). */
  exchange(bytes: Buffer[], done: (got: Buffer[]) => boolean, timeoutMs?: number): Promise<Buffer[]>;
  close(): void;
}

async function open(port: number, startup: Record<string, string>, password: string | null): Promise<Wire> {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const framer = new MessageFramer({ maxMessageBytes: 1 << 30 });
  let got: Buffer[] = [];
  let wake: (() => void) | null = null;
  socket.on('data', (d: Buffer) => {
    got.push(...framer.push(d));
    wake?.();
  });
  const wait = (done: (g: Buffer[]) => boolean, timeoutMs: number) =>
    new Promise<Buffer[]>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        wake = null;
        const out = got;
        got = [];
        resolve(out);
      };
      const timer = setTimeout(finish, timeoutMs);
      wake = () => done(got) && finish();
      wake();
    });
  socket.write(P.startup(startup));
  let login = await wait((g) => g.some((m) => m[0] === 0x52 /* R */ || m[0] === 0x45), 5000);
  if (password !== null && login.some((m) => m[0] === 0x52 && m.readInt32BE(5) === 3)) {
    socket.write(P.password(password));
    login = [];
  }
  // Trust auth answers AuthenticationOk and ReadyForQuery in one chunk: wait only if needed.
  if (!login.some((m) => m[0] === 0x5a || m[0] === 0x45)) {
    login = login.concat(await wait((g) => g.some((m) => m[0] === 0x5a /* Z */ || m[0] === 0x45), 5000));
  }
  const failed = login.find((m) => m[0] === 0x45);
  if (failed) throw new Error(`login failed: ${readErrorFields(failed).get('M')}`);
  if (!login.some((m) => m[0] === 0x5a)) {
    const more = await wait((g) => g.some((m) => m[0] === 0x5a), 5000);
    if (!more.some((m) => m[0] === 0x5a)) throw new Error('login: no ReadyForQuery');
  }
  return {
    exchange: (bytes, done, timeoutMs = 5000) => {
      for (const b of bytes) socket.write(b);
      return wait(done, timeoutMs);
    },
    close: () => socket.destroy(),
  };
}

const direct = (role: string) => open(PG.port, { user: role, database: FIXTURE_DB }, null);
const viaGateway = async (groups: string[]) => open(gw.port, { user: 'agent', database: FIXTURE_DB }, await gw.token({ groups }));

/** Until this many ReadyForQuery messages arrived. */
const ready = (n: number) => (got: Buffer[]) => got.filter((m) => m[0] === 0x5a).length >= n;
/** Until this many messages arrived (Flush-driven exchanges: no ReadyForQuery). */
const count = (n: number) => (got: Buffer[]) => got.length >= n;

type Step = [Buffer[], (got: Buffer[]) => boolean];

const big = (n: number) => `SELECT id FROM scratch.big WHERE id <= ${n} ORDER BY id`;
const note = (s: string) => `${TAG}-${s}`;

const PARITY: Record<string, Step[]> = {
  'unnamed statement: Parse, Bind, Describe portal, Execute, Sync': [
    [[P.parse({ text: 'SELECT 1 AS a, $1::text AS b' }), P.bind({ values: ['x'] }), P.describe({ type: 'P' }), P.execute({}), P.sync()], ready(1)],
  ],
  'Describe of a statement: ParameterDescription, then RowDescription or NoData': [
    [[P.parse({ name: 'ds', text: 'SELECT $1::int AS a, $2::text AS b' }), P.describe({ type: 'S', name: 'ds' }), P.sync()], ready(1)],
    [[P.parse({ name: 'di', text: 'INSERT INTO scratch.notes (body) VALUES ($1)' }), P.describe({ type: 'S', name: 'di' }), P.sync()], ready(1)],
    [[P.bind({ statement: 'ds', values: ['5', 'x'] }), P.describe({ type: 'P' }), P.execute({}), P.close({ type: 'S', name: 'ds' }), P.sync()], ready(1)],
    [[P.bind({ statement: 'ds', values: ['5', 'x'] }), P.execute({}), P.sync()], ready(1)],
  ],
  'binary results, byte for byte': [
    [[P.parse({ text: "SELECT 1.5::float8 AS f, 9007199254740::int8 AS i, now()::date - now()::date AS z, 'é'::text AS t, id FROM public.orders WHERE id = $1" }), P.bind({ values: ['3'], binary: true }), P.describe({ type: 'P' }), P.execute({}), P.sync()], ready(1)],
  ],
  'Execute with a row limit: PortalSuspended, then the rest': [
    [[P.parse({ text: big(5) }), P.bind({ portal: 'p1' }), P.execute({ portal: 'p1', rows: 2 }), P.execute({ portal: 'p1', rows: 2 }), P.execute({ portal: 'p1', rows: 2 }), P.sync()], ready(1)],
  ],
  'a cursor read with Flush between batches (pg-cursor style)': [
    [[P.parse({ text: big(5) }), P.bind({ portal: 'p1' }), P.describe({ type: 'P', name: 'p1' }), P.execute({ portal: 'p1', rows: 2 }), P.flush()], count(6)],
    [[P.execute({ portal: 'p1', rows: 2 }), P.flush()], count(3)],
    [[P.execute({ portal: 'p1', rows: 2 }), P.close({ type: 'P', name: 'p1' }), P.sync()], ready(1)],
  ],
  'a named portal across Syncs inside a transaction block, gone after COMMIT': [
    [[P.query('BEGIN')], ready(1)],
    [[P.parse({ text: big(3) }), P.bind({ portal: 'cur' }), P.execute({ portal: 'cur', rows: 1 }), P.sync()], ready(1)],
    [[P.execute({ portal: 'cur', rows: 1 }), P.sync()], ready(1)],
    [[P.execute({ portal: 'cur', rows: 0 }), P.sync(), P.query('COMMIT')], ready(2)],
    [[P.execute({ portal: 'cur', rows: 0 }), P.sync()], ready(1)],
  ],
  'an error skips the rest of the segment up to Sync, then all is normal': [
    [
      [
        ...[P.parse({ text: 'SELECT 1' }), P.bind({}), P.execute({})],
        ...[P.parse({ text: 'SELECT 1/0' }), P.bind({}), P.execute({})],
        ...[P.parse({ text: 'SELECT 2' }), P.bind({}), P.execute({}), P.sync()],
        ...[P.parse({ text: 'SELECT 3' }), P.bind({}), P.execute({}), P.sync()],
      ],
      ready(2),
    ],
  ],
  'Flush without Sync answers what is done so far': [
    [[P.parse({ name: 'f1', text: 'SELECT 7' }), P.flush()], count(1)],
    [[P.bind({ statement: 'f1' }), P.execute({}), P.flush()], count(3)],
    [[P.sync()], ready(1)],
  ],
  'empty queries in both protocols': [
    [[P.parse({ text: '' }), P.bind({}), P.execute({}), P.sync()], ready(1)],
    [[P.query('')], ready(1)],
    [[P.query(';')], ready(1)],
  ],
  'a multi-statement query stops at its first error': [
    [[P.query('SELECT 1; SELECT 1/0; SELECT 2')], ready(1)],
    [[P.query("SELECT 'a'; SELECT 'b'")], ready(1)],
  ],
  'pipelined segments and queries answer in order': [
    [[P.parse({ text: 'SELECT 1' }), P.bind({}), P.execute({}), P.sync(), P.parse({ text: 'SELECT 2' }), P.bind({}), P.execute({}), P.sync(), P.query('SELECT 3')], ready(3)],
  ],
  'COPY FROM STDIN (simple protocol)': [
    [[P.query('COPY scratch.notes (body) FROM STDIN')], count(1)],
    [[P.copyData(Buffer.from(`${note('a')}\n${note('b')}\n`)), P.copyDone()], ready(1)],
  ],
  'COPY FROM STDIN abandoned with CopyFail': [
    [[P.query('COPY scratch.notes (body) FROM STDIN')], count(1)],
    [[P.copyData(Buffer.from(`${note('failed')}\n`)), P.copyFail('client gave up')], ready(1)],
  ],
  'COPY FROM STDIN with bad data, then the session goes on': [
    [[P.query('COPY scratch.notes (id, body) FROM STDIN')], count(1)],
    [[P.copyData(Buffer.from('not-a-number\tx\n')), P.copyDone()], ready(1)],
    [[P.query('SELECT 1')], ready(1)],
  ],
  'COPY FROM STDIN (extended protocol, data after Flush)': [
    [[P.parse({ text: 'COPY scratch.notes (body) FROM STDIN' }), P.bind({}), P.execute({}), P.flush()], count(3)],
    [[P.copyData(Buffer.from(`${note('ext')}\n`)), P.copyDone(), P.sync()], ready(1)],
  ],
  'COPY FROM STDIN (extended protocol, Sync sent before the data)': [
    [[P.parse({ text: 'COPY scratch.notes (body) FROM STDIN' }), P.bind({}), P.execute({}), P.sync()], count(3)],
    [[P.copyData(Buffer.from(`${note('sync')}\n`)), P.copyDone(), P.sync()], ready(1)],
  ],
  'COPY TO STDOUT in both protocols': [
    [[P.query(`COPY (${big(3)}) TO STDOUT`)], ready(1)],
    [[P.parse({ text: `COPY (${big(3)}) TO STDOUT (FORMAT csv, HEADER)` }), P.bind({}), P.execute({}), P.sync()], ready(1)],
  ],
  'Close of a statement, a Bind of it fails; Parse under the same name again': [
    [[P.parse({ name: 'cr', text: 'SELECT 1' }), P.sync()], ready(1)],
    [[P.close({ type: 'S', name: 'cr' }), P.sync()], ready(1)],
    [[P.bind({ statement: 'cr' }), P.execute({}), P.sync()], ready(1)],
    [[P.parse({ name: 'cr', text: 'SELECT 2' }), P.bind({ statement: 'cr' }), P.execute({}), P.sync()], ready(1)],
  ],
  'a duplicate named Parse fails and the first statement stays': [
    [[P.parse({ name: 'dup', text: 'SELECT 1' }), P.sync()], ready(1)],
    [[P.parse({ name: 'dup', text: 'SELECT 2' }), P.bind({ statement: 'dup' }), P.execute({}), P.sync()], ready(1)],
    [[P.bind({ statement: 'dup' }), P.execute({}), P.sync()], ready(1)],
  ],
  'an error aborts a transaction block: 25P02 until ROLLBACK (simple and extended)': [
    [[P.query('BEGIN'), P.query('SELECT 1/0'), P.query('SELECT 1'), P.query('ROLLBACK'), P.query('SELECT 1')], ready(5)],
    [[P.query('BEGIN'), P.parse({ text: 'SELECT 1/0' }), P.bind({}), P.execute({}), P.sync(), P.parse({ text: 'SELECT 1' }), P.bind({}), P.execute({}), P.sync(), P.query('ROLLBACK')], ready(4)],
  ],
  'NOTICE messages are relayed': [[[P.query('DROP TABLE IF EXISTS scratch.relay_parity_missing')], ready(1)]],
  'a Query in the middle of an extended segment': [[[P.parse({ text: 'SELECT 1' }), P.bind({}), P.execute({}), P.query('SELECT 2'), P.sync()], ready(2)]],
  'a statement prepared with SQL PREPARE, bound through the protocol, then deallocated': [
    [[P.query('PREPARE sp AS SELECT $1::int + 1')], ready(1)],
    [[P.bind({ statement: 'sp', values: ['41'] }), P.describe({ type: 'P' }), P.execute({}), P.sync()], ready(1)],
    [[P.query('DEALLOCATE sp')], ready(1)],
    [[P.bind({ statement: 'sp', values: ['41'] }), P.execute({}), P.sync()], ready(1)],
  ],
  'a statement made by Parse, run with SQL EXECUTE, then DEALLOCATE ALL': [
    [[P.parse({ name: 'pe', text: 'SELECT 42' }), P.sync()], ready(1)],
    [[P.query('EXECUTE pe')], ready(1)],
    [[P.query('DEALLOCATE ALL')], ready(1)],
    [[P.bind({ statement: 'pe' }), P.execute({}), P.sync()], ready(1)],
  ],
  'Bind of an unknown statement, Execute of an unknown portal': [
    [[P.bind({ statement: 'nosuch' }), P.execute({}), P.sync()], ready(1)],
    [[P.execute({ portal: 'nosuchportal' }), P.sync()], ready(1)],
    [[P.bind({}), P.execute({}), P.sync()], ready(1)],
  ],
  'pipelined: a Bind of a statement parsed in an earlier, unanswered segment': [
    [[P.parse({ name: 'pp', text: 'SELECT $1::int * 2' }), P.sync(), P.bind({ statement: 'pp', values: ['21'] }), P.execute({}), P.sync()], ready(2)],
  ],
  'pipelined: a Bind after a failed Parse of that name': [
    [[P.parse({ name: 'pf', text: 'SELECT * FROM scratch.relay_parity_missing' }), P.sync(), P.bind({ statement: 'pf' }), P.execute({}), P.sync()], ready(2)],
  ],
  'pipelined: a Bind after a Close of that name': [
    [[P.parse({ name: 'pc', text: 'SELECT 1' }), P.sync()], ready(1)],
    [[P.close({ type: 'S', name: 'pc' }), P.sync(), P.bind({ statement: 'pc' }), P.execute({}), P.sync()], ready(2)],
  ],
  'pipelined: SQL PREPARE then EXECUTE in separate queries': [[[P.query('PREPARE pq AS SELECT 5'), P.query('EXECUTE pq'), P.query('DEALLOCATE pq'), P.query('EXECUTE pq')], ready(4)]],
};

describe('parity with PostgreSQL (writer role, direct vs through the gateway)', () => {
  for (const [name, steps] of Object.entries(PARITY)) {
    it(name, async () => {
      const d = await direct('auditgate_writer');
      const g = await viaGateway(WRITERS);
      try {
        for (const [bytes, done] of steps) {
          const expected = (await d.exchange(bytes, done)).map(show);
          const actual = (await g.exchange(bytes, done)).map(show);
          expect(actual).toEqual(expected);
        }
      } finally {
        d.close();
        g.close();
      }
    });
  }
});

/** Compact transcript: message types, error codes, command tags. */
function brief(msgs: Buffer[]): string[] {
  return msgs.map((m) => {
    const t = String.fromCharCode(m[0]!);
    if (t === 'E') return `E:${readErrorFields(m).get('C')}`;
    if (t === 'C') return `C:${m.toString('utf8', 5, m.length - 1)}`;
    if (t === 'Z') return `Z:${String.fromCharCode(m[5]!)}`;
    return t;
  });
}
const errorText = (msgs: Buffer[]) => msgs.filter((m) => m[0] === 0x45).map((m) => readErrorFields(m).get('M') ?? '');
const SSNS = ['123-45-6789', '987-65-4321'];
const leaks = (msgs: Buffer[]) => SSNS.some((ssn) => Buffer.concat(msgs).includes(ssn));

describe('prepared statements and portals: every execution is decided on what PostgreSQL holds', () => {
  it('decides a statement made by SQL PREPARE when it is bound through the protocol (it used to run undecided)', async () => {
    const body = note('prepared-delete');
    await directQuery('INSERT INTO scratch.notes (body) VALUES ($1)', [body]);
    const before = (await directQuery('SELECT count(*)::int AS n FROM scratch.notes')).rows[0].n as number;
    const w = await viaGateway(WRITERS);
    try {
      // PREPARE runs nothing, so the policy allows it; running it is what the policy must see.
      expect(brief(await w.exchange([P.query('PREPARE wipe AS DELETE FROM scratch.notes')], ready(1)))).toEqual(['C:PREPARE', 'Z:I']);
      const run = await w.exchange([P.bind({ statement: 'wipe' }), P.execute({}), P.sync()], ready(1));
      expect(brief(run)).toEqual(['E:42501', 'Z:I']);
      expect(errorText(run)[0]).toMatch(/^auditgate: denied: DELETE on scratch\.notes without WHERE/);
      expect(brief(await w.exchange([P.query('EXECUTE wipe')], ready(1)))).toEqual(['E:42501', 'Z:I']);
    } finally {
      w.close();
    }
    expect((await directQuery('SELECT count(*)::int AS n FROM scratch.notes')).rows[0].n).toBe(before);
  });

  it('masks the results of a SQL-prepared statement bound through the protocol', async () => {
    const r = await viaGateway(['agents']);
    try {
      await r.exchange([P.query('PREPARE ssns AS SELECT ssn FROM public.customers ORDER BY id')], ready(1));
      const run = await r.exchange([P.bind({ statement: 'ssns' }), P.execute({}), P.sync()], ready(1));
      expect(brief(run)).toEqual(['2', 'D', 'D', 'C:SELECT 2', 'Z:I']);
      expect(leaks(run)).toBe(false);
    } finally {
      r.close();
    }
  });

  it('keeps a named statement under its own decision when a Parse under its name is denied', async () => {
    const r = await viaGateway(['agents']);
    try {
      expect(brief(await r.exchange([P.parse({ name: 'n', text: 'SELECT ssn FROM public.customers ORDER BY id' }), P.sync()], ready(1)))).toEqual(['1', 'Z:I']);
      // Denied: PostgreSQL still holds the first statement under that name.
      expect(brief(await r.exchange([P.parse({ name: 'n', text: 'DELETE FROM public.orders' }), P.sync()], ready(1)))).toEqual(['E:42501', 'Z:I']);
      // Refused by PostgreSQL itself (the name is taken): same.
      expect(brief(await r.exchange([P.parse({ name: 'n', text: 'SELECT 1' }), P.sync()], ready(1)))).toEqual(['E:42P05', 'Z:I']);
      const run = await r.exchange([P.bind({ statement: 'n' }), P.execute({}), P.sync()], ready(1));
      expect(brief(run)).toEqual(['2', 'D', 'D', 'C:SELECT 2', 'Z:I']);
      expect(leaks(run)).toBe(false);
    } finally {
      r.close();
    }
  });

  it('decides EXECUTE on the statement PostgreSQL kept, not on a PREPARE or DEALLOCATE that failed', async () => {
    const w = await viaGateway(WRITERS);
    try {
      const update = "PREPARE u AS UPDATE public.orders SET status = 'hacked' WHERE id = 1";
      expect(brief(await w.exchange([P.query(update)], ready(1)))).toEqual(['C:PREPARE', 'Z:I']);
      // The name is taken: PostgreSQL refuses this PREPARE and keeps the UPDATE.
      expect(brief(await w.exchange([P.query('PREPARE u AS SELECT 1')], ready(1)))).toEqual(['E:42P05', 'Z:I']);
      let run = await w.exchange([P.query('EXECUTE u')], ready(1));
      expect(brief(run)).toEqual(['E:42501', 'Z:I']);
      expect(errorText(run)[0]).toMatch(/approval required: UPDATE on production table public\.orders/);
      // A DEALLOCATE after an error in its string never ran.
      expect(brief(await w.exchange([P.query('SELECT 1/0; DEALLOCATE u')], ready(1)))).toEqual(['E:22012', 'Z:I']);
      // The same, pipelined: each query is decided once the ones before it have answered.
      run = await w.exchange([P.query('SELECT 1/0; DEALLOCATE u'), P.query('PREPARE u AS SELECT 1'), P.query('EXECUTE u')], ready(3));
      expect(brief(run)).toEqual(['E:22012', 'Z:I', 'E:42P05', 'Z:I', 'E:42501', 'Z:I']);
      // Once really deallocated, the name is free.
      expect(brief(await w.exchange([P.query('DEALLOCATE u'), P.query('PREPARE u AS SELECT 1'), P.query('EXECUTE u')], ready(3)))).toEqual([
        'C:DEALLOCATE',
        'Z:I',
        'C:PREPARE',
        'Z:I',
        'T',
        'D',
        'C:SELECT 1',
        'Z:I',
      ]);
    } finally {
      w.close();
    }
    expect((await directQuery('SELECT status FROM public.orders WHERE id = 1')).rows).toEqual([{ status: 'open' }]);
  });

  it('refuses Execute of a portal it never saw bound (a cursor declared in SQL), with PostgreSQL\'s code', async () => {
    const r = await viaGateway(['agents']);
    try {
      expect(brief(await r.exchange([P.query('BEGIN; DECLARE c CURSOR FOR SELECT ssn FROM public.customers')], ready(1)))).toEqual([
        'C:BEGIN',
        'C:DECLARE CURSOR',
        'Z:T',
      ]);
      const run = await r.exchange([P.execute({ portal: 'c' }), P.sync()], ready(1));
      expect(brief(run)).toEqual(['E:34000', 'Z:E']);
      expect(leaks(run)).toBe(false);
      const fields = readErrorFields(run[0]!);
      expect(fields.get('M')).toBe('portal "c" does not exist');
      expect(fields.get('H')).toMatch(/FETCH/);
      expect(brief(await r.exchange([P.query('ROLLBACK')], ready(1)))).toEqual(['C:ROLLBACK', 'Z:I']);
    } finally {
      r.close();
    }
  });

  it('refuses a denied Parse, Bind and Execute alike in one pipelined stream, each until its Sync', async () => {
    const r = await viaGateway(['agents']);
    try {
      const run = await r.exchange(
        [
          ...[P.parse({ text: 'DELETE FROM public.orders WHERE id = 1' }), P.bind({}), P.execute({}), P.sync()],
          ...[P.bind({ statement: 'never_parsed' }), P.execute({}), P.sync()],
          ...[P.execute({ portal: 'never_bound' }), P.sync()],
          ...[P.parse({ text: 'SELECT 9' }), P.bind({}), P.execute({}), P.sync()],
        ],
        ready(4),
      );
      expect(brief(run)).toEqual(['E:42501', 'Z:I', 'E:26000', 'Z:I', 'E:34000', 'Z:I', '1', '2', 'D', 'C:SELECT 1', 'Z:I']);
    } finally {
      r.close();
    }
  });
});
