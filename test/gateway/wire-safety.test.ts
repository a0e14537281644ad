// What a hostile or broken client meets: bad tokens are refused with the right SQLSTATE, every
// deny class of the default policy holds over the wire, malformed protocol ends only that
// connection, and the gateway keeps serving everyone else.
import { SignJWT, base64url, importPKCS8 } from 'jose';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevIssuer, issueDevToken } from '../../proxy/identity/dev-issuer.js';
import { FIXTURE_DB, directQuery } from '../support/fixture-db.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';
import { fieldsOf, rawConnect, rawLogin, typeOf } from '../support/raw-client.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ config: { listen: { host: '127.0.0.1', port: 0, startup_timeout_ms: 1500 } } });
});
afterAll(async () => gw?.close());

async function connectWith(password: string, extra: Record<string, unknown> = {}): Promise<pg.Client> {
  const c = new pg.Client(gw.pgConfig(password, extra));
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function refused(password: string): Promise<{ code: string; message: string }> {
  const err = (await connectWith(password).then(
    async (c) => {
      await c.end();
      return null;
    },
    (e: unknown) => e,
  )) as { code: string; message: string } | null;
  if (!err) throw new Error('connection was accepted');
  expect(err.message).not.toContain(password.slice(0, 40));
  return err;
}

describe('identity over the wire', () => {
  it('runs a valid agent as the role the policy picks, whatever user it names', async () => {
    const c = await connectWith(await gw.token(), { user: 'postgres' });
    expect((await c.query('SELECT current_user AS u')).rows).toEqual([{ u: 'auditgate_reader' }]);
    await c.end();
    const w = await connectWith(await gw.token({ groups: ['agents', 'agent-writers'] }));
    expect((await w.query('SELECT current_user AS u')).rows).toEqual([{ u: 'auditgate_writer' }]);
    await w.end();
  });

  it('refuses an expired token (28P01)', async () => {
    const kid = (JSON.parse(await readFile(gw.dev.jwksPath, 'utf8')) as { keys: { kid: string }[] }).keys[0]!.kid;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ groups: ['agents'], model: 'm', repository: 'r' })
      .setProtectedHeader({ alg: 'EdDSA', kid })
      .setIssuer(gw.dev.issuer)
      .setAudience(gw.dev.audience)
      .setSubject('agent:old')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(await importPKCS8(await readFile(gw.dev.keyPath, 'utf8'), 'EdDSA'));
    expect(await refused(token)).toMatchObject({ code: '28P01', message: expect.stringMatching(/expired/) });
  });

  it('refuses a token for another audience, or from an issuer the gateway does not trust', async () => {
    const other = await ensureDevIssuer(await mkdtemp(join(tmpdir(), 'auditgate-other-issuer-')), { issuer: 'https://other.example/issuer' });
    const foreign = await issueDevToken(other.dir, { sub: 'agent:x', groups: ['agents'], claims: { model: 'm', repository: 'r' } });
    expect(await refused(foreign)).toMatchObject({ code: '28000', message: expect.stringMatching(/issuer is not trusted/) });
    const wrongAud = await ensureDevIssuer(await mkdtemp(join(tmpdir(), 'auditgate-aud-')), { issuer: gw.dev.issuer, audience: 'someone-else' });
    const t = await issueDevToken(wrongAud.dir, { sub: 'agent:x', groups: ['agents'], claims: { model: 'm', repository: 'r' } });
    const e = await refused(t);
    expect(e.code).toBe('28P01');
  });

  it('refuses alg none, a tampered token and a garbage password', async () => {
    const good = await gw.token();
    const [, payload] = good.split('.');
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payload}.`;
    expect(await refused(none)).toMatchObject({ code: '28P01', message: expect.stringMatching(/algorithm not accepted/) });
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const tampered = [good.split('.')[0], base64url.encode(JSON.stringify({ ...claims, groups: ['agents', 'agent-writers'] })), good.split('.')[2]].join('.');
    expect(await refused(tampered)).toMatchObject({ code: '28P01', message: expect.stringMatching(/signature verification failed/) });
    expect(await refused('hunter2')).toMatchObject({ code: '28000', message: expect.stringMatching(/a JWT is required/) });
  });

  it('refuses an agent without the required claims, with the policy\'s reason', async () => {
    expect(await refused(await gw.token({ claims: { model: 'm' } }))).toMatchObject({
      code: '28000',
      message: expect.stringMatching(/connection denied: .*missing required claim 'repository'/),
    });
  });
});

describe('upstream credentials', () => {
  it('refuses a session whose role has no configured credential, naming the role', async () => {
    const readerOnly = await startTestGateway({
      upstream: { roles: { auditgate_reader: { user: 'auditgate_reader', password: null } }, catalog_role: 'auditgate_reader' },
    });
    try {
      const c = new pg.Client(readerOnly.pgConfig(await readerOnly.token({ groups: ['agents', 'agent-writers'] })));
      c.on('error', () => {});
      await expect(c.connect()).rejects.toMatchObject({
        code: '28000',
        message: 'auditgate: connection denied: no upstream credential is configured for role auditgate_writer',
      });
    } finally {
      await readerOnly.close();
    }
  });
});

describe('the default policy over the wire', () => {
  let reader: pg.Client;
  let writer: pg.Client;
  beforeAll(async () => {
    reader = await connectWith(await gw.token());
    writer = await connectWith(await gw.token({ groups: ['agents', 'agent-writers'] }));
  });
  afterAll(async () => {
    await reader?.end();
    await writer?.end();
  });

  const cases: [string, 'reader' | 'writer', string, RegExp][] = [
    ['DELETE without WHERE', 'writer', 'DELETE FROM scratch.notes', /without WHERE/],
    ['UPDATE without WHERE', 'writer', "UPDATE scratch.notes SET body = 'x'", /without WHERE/],
    ['a write by a read-only agent', 'reader', "INSERT INTO scratch.notes (body) VALUES ('x')", /read-only/],
    ['a production write (approval, not yet available)', 'writer', "UPDATE public.orders SET status = 'x' WHERE id = 1", /approval required: UPDATE on production table public\.orders/],
    ['GRANT', 'writer', 'GRANT ALL ON public.orders TO PUBLIC', /GRANT/],
    ['REVOKE', 'writer', 'REVOKE ALL ON public.orders FROM auditgate_reader', /REVOKE/],
    ['CREATE ROLE', 'writer', "CREATE ROLE intruder LOGIN PASSWORD 'x'", /CREATE ROLE/],
    ['ALTER ROLE', 'writer', 'ALTER ROLE auditgate_writer SUPERUSER', /ALTER ROLE/],
    ['SET ROLE', 'reader', 'SET ROLE postgres', /role/i],
    ['SET SESSION AUTHORIZATION', 'reader', 'SET SESSION AUTHORIZATION postgres', /session.authorization/i],
    ['RESET ROLE', 'reader', 'RESET ROLE', /role/i],
    ['set_config of role', 'reader', "SELECT set_config('role', 'postgres', false)", /set_config/],
    ['pg_read_file', 'reader', "SELECT pg_read_file('/etc/passwd')", /pg_read_file/],
    ['pg_read_file in a subquery', 'reader', "SELECT id FROM public.orders WHERE status = (SELECT pg_read_file('/etc/hostname'))", /pg_read_file/],
    ['pg_read_file in a lateral join', 'reader', "SELECT o.id FROM public.orders o, LATERAL (SELECT pg_read_file('/etc/passwd') AS x) f", /pg_read_file/],
    ['lo_import', 'reader', "SELECT lo_import('/etc/passwd')", /lo_import/],
    ['dblink', 'reader', "SELECT * FROM dblink('host=x', 'SELECT 1') AS t(x int)", /dblink/],
    ['COPY ... PROGRAM', 'writer', "COPY scratch.notes FROM PROGRAM 'cat /etc/passwd'", /PROGRAM/],
    ['COPY to a server file', 'reader', "COPY public.orders TO '/tmp/orders.csv'", /file/i],
    ['ALTER SYSTEM', 'writer', "ALTER SYSTEM SET log_statement = 'none'", /ALTER SYSTEM/],
    ['CREATE EXTENSION', 'writer', 'CREATE EXTENSION IF NOT EXISTS dblink', /CREATE EXTENSION/],
    ['LOAD', 'writer', "LOAD 'auto_explain'", /LOAD/],
    ['a DO block', 'writer', 'DO $$ BEGIN DELETE FROM scratch.notes; END $$', /DO|procedural/i],
    ['CREATE FUNCTION', 'writer', 'CREATE FUNCTION scratch.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', /FUNCTION|procedural/i],
    ['PREPARE/EXECUTE of an unbounded DELETE', 'writer', 'PREPARE wipe AS DELETE FROM scratch.notes; EXECUTE wipe', /without WHERE/],
    ['EXPLAIN ANALYZE of an unbounded DELETE', 'writer', 'EXPLAIN ANALYZE DELETE FROM scratch.notes', /without WHERE/],
    ['a data-modifying CTE', 'writer', 'WITH d AS (DELETE FROM scratch.notes RETURNING *) SELECT count(*) FROM d', /without WHERE/],
    ['a syntax error', 'reader', 'SELEC 1', /could not be parsed/],
  ];
  for (const [label, who, sql, reason] of cases) {
    it(`denies ${label} (42501) and the session goes on`, async () => {
      const c = who === 'reader' ? reader : writer;
      const err = (await c.query(sql).catch((e: unknown) => e)) as { code?: string; message?: string };
      expect(err.code).toBe('42501');
      expect(err.message).toMatch(/^auditgate: denied: /);
      expect(err.message).toMatch(reason);
      expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    });
  }

  it('runs nothing of a string whose second statement is forbidden', async () => {
    const marker = `m-${Date.now()}`;
    await expect(writer.query(`INSERT INTO scratch.notes (body) VALUES ('${marker}'); SET ROLE postgres`)).rejects.toMatchObject({ code: '42501' });
    expect((await directQuery('SELECT count(*)::int AS n FROM scratch.notes WHERE body = $1', [marker])).rows).toEqual([{ n: 0 }]);
  });

  it('refuses the fast-path function call interface', async () => {
    const s = await rawLogin(gw.port, await gw.token(), FIXTURE_DB);
    // FunctionCall ('F'): function OID 1 (any), no arguments, text result.
    const body = Buffer.alloc(4 + 2 + 2 + 2);
    body.writeInt32BE(1, 0);
    const f = Buffer.concat([Buffer.from('F'), Buffer.from([0, 0, 0, 4 + body.length]), body]);
    s.messages.length = 0;
    s.send(f);
    const msgs = await s.until('Z');
    const err = msgs.find((m) => typeOf(m) === 'E')!;
    expect(fieldsOf(err)).toMatchObject({ C: '42501', M: expect.stringMatching(/fast-path function call/) });
    s.socket.destroy();
  });
});

describe('robustness', () => {
  async function expectError(bytes: Buffer[], code: string): Promise<void> {
    const s = await rawConnect(gw.port);
    for (const b of bytes) s.send(b);
    const msgs = await s.closed(5000);
    const err = msgs.find((m) => typeOf(m) === 'E');
    expect(err, `messages: ${msgs.map(typeOf).join('')}`).toBeDefined();
    expect(fieldsOf(err!).C).toBe(code);
  }

  it('ends a connection that sends garbage, with 08P01', async () => {
    await expectError([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], '08P01');
  });

  it('refuses a 1 GB startup length and a 1 GB message after login', async () => {
    await expectError([Buffer.from([0x40, 0, 0, 0, 0, 3, 0, 0])], '08P01');
    const s = await rawLogin(gw.port, await gw.token(), FIXTURE_DB);
    s.messages.length = 0;
    s.send(Buffer.from([0x51, 0x40, 0, 0, 0]));
    const msgs = await s.closed();
    expect(fieldsOf(msgs.find((m) => typeOf(m) === 'E')!)).toMatchObject({ C: '08P01', M: expect.stringMatching(/exceeds/) });
  });

  it('refuses a startup packet without a user (28000) and protocol 2.0 (08P01)', async () => {
    await expectError([serialize.startup({ database: FIXTURE_DB })], '28000');
    const v2 = Buffer.alloc(8);
    v2.writeInt32BE(8, 0);
    v2.writeInt32BE(2 << 16, 4);
    await expectError([v2], '08P01');
  });

  it('refuses the options startup parameter', async () => {
    await expectError([serialize.startup({ user: 'agent', database: FIXTURE_DB, options: '-c role=postgres' })], '08P01');
  });

  it('answers SSLRequest with N when TLS is not configured, then serves a normal startup', async () => {
    const s = await rawConnect(gw.port, { typed: false });
    s.send(serialize.requestSsl());
    await new Promise((r) => setTimeout(r, 100));
    expect(s.raw().toString()).toBe('N');
    s.socket.destroy();
  });

  it('closes after a truncated message, an unknown message type and a Bind running past its end', async () => {
    const token = await gw.token();
    const unknown = await rawLogin(gw.port, token, FIXTURE_DB);
    unknown.send(Buffer.from([0x7a, 0, 0, 0, 4]));
    expect(fieldsOf((await unknown.closed()).find((m) => typeOf(m) === 'E')!).C).toBe('08P01');
    const bind = await rawLogin(gw.port, token, FIXTURE_DB);
    const b = serialize.bind({ values: ['hello'] });
    b.writeInt32BE(1000, 13);
    bind.send(b);
    expect(fieldsOf((await bind.closed()).find((m) => typeOf(m) === 'E')!).C).toBe('08P01');
  });

  it('times out a connection that never completes its startup', async () => {
    const s = await rawConnect(gw.port);
    s.send(Buffer.from([0, 0, 0, 40])); // a length, then nothing
    const t0 = Date.now();
    const msgs = await s.closed(5000);
    expect(Date.now() - t0).toBeGreaterThan(800);
    expect(fieldsOf(msgs.find((m) => typeOf(m) === 'E')!).M).toMatch(/startup did not complete/);
  });

  it('keeps serving a well-behaved client while 50 connections send garbage', async () => {
    const good = await connectWith(await gw.token());
    const attackers = Array.from({ length: 50 }, async (_, i) => {
      const s = await rawConnect(gw.port);
      s.send(i % 2 ? Buffer.from('\x00\x00\x00\x08garbage!') : Buffer.alloc(64, 0xff));
      await s.closed(5000).catch(() => s.socket.destroy());
    });
    for (let i = 0; i < 20; i++) expect((await good.query('SELECT $1::int AS i', [i])).rows).toEqual([{ i }]);
    await Promise.all(attackers);
    await good.end();
    const fresh = await connectWith(await gw.token());
    expect((await fresh.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await fresh.end();
  });
});
