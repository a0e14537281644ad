// The demo's PGlite wire server against a real PGlite, with node-postgres and raw protocol
// messages: what it promises beyond "several connections work" is exactly what
// @electric-sql/pglite-socket's server does not do (docs/demo.md): a Parse ... Sync is never
// split by another connection's statement, a transaction holds the backend (and is rolled back
// when its connection goes), and the gateway's catalog connection may run inside a session's
// open transaction but never between its Parse and Sync.
import { connect, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PgliteServer } from '../../demo/pglite-server.js';

let db: PGlite;
let server: PgliteServer;
let port: number;
const errors: Error[] = [];

/** A client speaking raw protocol: for messages node-postgres never sends apart (a lone Parse). */
class RawClient {
  private socket: Socket;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  constructor() {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  send(...messages: Buffer[]): void {
    this.socket.write(Buffer.concat(messages));
  }

  /** Backend messages up to and including the next ReadyForQuery, as [type, body]. */
  untilReady(): Promise<[string, Buffer][]> {
    return this.until('Z');
  }

  /** Backend messages up to and including the next one of this type. */
  async until(last: string): Promise<[string, Buffer][]> {
    for (;;) {
      const msgs: [string, Buffer][] = [];
      let at = 0;
      while (at + 5 <= this.buf.length) {
        const len = this.buf.readInt32BE(at + 1);
        if (at + 1 + len > this.buf.length) break;
        const type = String.fromCharCode(this.buf[at]!);
        msgs.push([type, this.buf.subarray(at + 5, at + 1 + len)]);
        at += 1 + len;
        if (type === last) {
          this.buf = this.buf.subarray(at);
          return msgs;
        }
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async start(): Promise<void> {
    this.send(serialize.startup({ user: 'postgres', database: 'postgres' }));
    await this.untilReady();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const dataRows = (msgs: [string, Buffer][]): string[] =>
  msgs.filter(([t]) => t === 'D').map(([, b]) => b.subarray(6, 6 + b.readInt32BE(2)).toString('utf8'));
const errorsIn = (msgs: [string, Buffer][]): string[] => msgs.filter(([t]) => t === 'E').map(([, b]) => b.toString('utf8').replace(/\0/g, ' '));

const client = (applicationName = 'test') => new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', application_name: applicationName });
const count = async (c: pg.Client) => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows[0]!.n;

/** Polls the server's own account of what it holds; fails (rather than hangs) if it never gets there. */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`the server never got to: ${what} (${JSON.stringify(server.stats())})`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Until the server holds `n` complete units waiting (the statement reached it and waits). */
const queued = (n: number) => until(`${n} statement(s) waiting`, () => server.stats().queuedUnits >= n);

beforeAll(async () => {
  db = await PGlite.create();
  server = new PgliteServer({ db, privilegedApplications: ['auditgate-catalog'], onError: (e) => errors.push(e) });
  port = (await server.start()).port;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await db?.close();
});

beforeEach(async () => {
  await db.exec('DROP TABLE IF EXISTS t; CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)');
});

describe('the PGlite wire server', () => {
  it('answers SSLRequest with N and serves node-postgres', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'whoever', database: 'postgres', ssl: false });
    await c.connect();
    expect((await c.query('SELECT $1::int + 1 AS x', [41])).rows).toEqual([{ x: 42 }]);
    await c.end();
    const raw = connect(port, '127.0.0.1');
    const answer = await new Promise<string>((resolve) => {
      raw.once('data', (d: Buffer) => resolve(d.toString()));
      raw.write(serialize.requestSsl());
    });
    raw.destroy();
    expect(answer).toBe('N');
  });

  it('never runs another connection\'s statement between a Parse and its Sync', async () => {
    const a = new RawClient();
    await a.start();
    const b = client();
    await b.connect();
    a.send(serialize.parse({ text: 'SELECT $1::int + 1 AS x' }));
    await until('the Parse buffered, waiting for its Sync', () => server.stats().bufferedMessages >= 1);
    // With PGlite's single unnamed statement, this would drop A's if it ran between them.
    expect((await b.query('SELECT 42 AS y')).rows).toEqual([{ y: 42 }]);
    a.send(serialize.bind({ values: ['5'] }), serialize.describe({ type: 'P' }), serialize.execute(), serialize.sync());
    const msgs = await a.untilReady();
    expect(errorsIn(msgs)).toEqual([]);
    expect(dataRows(msgs)).toEqual(['6']);
    a.destroy();
    await b.end();
  });

  it('lets a transaction hold the backend: other connections run after its COMMIT', async () => {
    const a = client();
    const b = client();
    await Promise.all([a.connect(), b.connect()]);
    await a.query('BEGIN');
    await a.query('INSERT INTO t VALUES (3)');
    const seen = count(b);
    await queued(1); // b's statement reached the server and waits
    await a.query('INSERT INTO t VALUES (4)');
    await a.query('COMMIT');
    expect(await seen).toBe(4); // not 2 (before), not 3 (inside the transaction)
    await Promise.all([a.end(), b.end()]);
  });

  it('rolls back the transaction of a connection that goes away, and serves the others', async () => {
    const a = client();
    const b = client();
    await Promise.all([a.connect(), b.connect()]);
    a.on('error', () => {});
    await a.query('BEGIN');
    await a.query('INSERT INTO t VALUES (3)');
    const seen = count(b);
    await queued(1);
    (a as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
    expect(await seen).toBe(2);
    expect(db.isInTransaction()).toBe(false);
    await b.end();
  });

  it('runs the catalog connection inside an open transaction, but not between a Flush and its Sync', async () => {
    const a = new RawClient();
    await a.start();
    const catalog = client('auditgate-catalog');
    await catalog.connect();
    a.send(serialize.query('BEGIN; INSERT INTO t VALUES (3)'));
    await a.untilReady();
    // The session waits for the gateway's catalog lookup: it must not wait for the session.
    expect(await count(catalog)).toBe(3);

    // Mid-sequence (Parse, Flush, ... Sync): the unnamed statement is the session's.
    a.send(serialize.parse({ text: 'SELECT $1::int * 2 AS x' }), serialize.flush());
    expect((await a.until('1')).map(([t]) => t)).toEqual(['1']); // ParseComplete, flushed
    const lookup = catalog.query('SELECT $1::text AS y', ['catalog']);
    await queued(1);
    a.send(serialize.bind({ values: ['21'] }), serialize.describe({ type: 'P' }), serialize.execute(), serialize.sync());
    const msgs = await a.untilReady();
    expect(errorsIn(msgs)).toEqual([]);
    expect(dataRows(msgs)).toEqual(['42']);
    expect((await lookup).rows).toEqual([{ y: 'catalog' }]);
    a.send(serialize.query('ROLLBACK'));
    await a.untilReady();
    a.destroy();
    await catalog.end();
    expect(await db.query('SELECT count(*)::int AS n FROM t')).toMatchObject({ rows: [{ n: 2 }] });
  });

  it('drops a CancelRequest without touching the backend', async () => {
    const raw = connect(port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
    const cancel = Buffer.alloc(16);
    cancel.writeInt32BE(16, 0);
    cancel.writeInt32BE(80877102, 4);
    raw.write(cancel);
    await closed;
    const c = client();
    await c.connect();
    expect(await count(c)).toBe(2);
    await c.end();
    expect(errors).toEqual([]);
  });
});
