// connectUpstream / cancelUpstream against a real PostgreSQL: a scratch cluster with
// scram-sha-256, md5, cleartext, trust and TLS-only users (test/support/scratch-postgres.ts),
// and the machine's main server (trust) when it is there.
import net from 'node:net';
import { serialize } from 'pg-protocol';
import type { BackendMessage, DatabaseError } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startScratchPostgres, type ScratchPostgres } from '../../test/support/scratch-postgres.js';
import { cancelUpstream, connectUpstream, UpstreamError, type RoleCredential, type UpstreamSession, type UpstreamTarget } from './connect.js';

/** Sends a simple Query on the session's socket and collects backend messages up to ReadyForQuery. */
function simpleQuery(session: UpstreamSession, sql: string, timeoutMs = 10_000): Promise<BackendMessage[]> {
  const { socket } = session;
  const parser = new Parser();
  const messages: BackendMessage[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no ReadyForQuery within ${timeoutMs} ms; got ${messages.map((m) => m.name).join(',')}`)), timeoutMs);
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', finish);
      socket.pause();
      if (err) reject(err);
      else resolve(messages);
    };
    const onData = (chunk: Buffer): void => {
      parser.parse(chunk, (m) => {
        messages.push(m);
        if (m.name === 'readyForQuery') finish();
      });
    };
    socket.on('data', onData);
    socket.on('error', finish);
    if (session.pending.length > 0) {
      const p = session.pending;
      session.pending = Buffer.alloc(0);
      onData(p);
    }
    socket.resume();
    socket.write(serialize.query(sql));
  });
}

function firstColumn(messages: BackendMessage[]): (string | null)[] {
  return messages.filter((m) => m.name === 'dataRow').map((m) => (m as unknown as { fields: (string | null)[] }).fields[0] ?? null);
}

async function scalar(session: UpstreamSession, sql: string): Promise<string | null> {
  const msgs = await simpleQuery(session, sql);
  const err = msgs.find((m) => m.name === 'error') as DatabaseError | undefined;
  if (err) throw new Error(`${sql}: ${err.message}`);
  return firstColumn(msgs)[0] ?? null;
}

/** Expects connectUpstream to fail with an UpstreamError and returns it. */
async function failure(p: Promise<UpstreamSession>): Promise<UpstreamError> {
  const r = await p.then(
    (s) => {
      s.socket.destroy();
      return new Error('connectUpstream succeeded but should have failed');
    },
    (e: unknown) => e,
  );
  expect(r).toBeInstanceOf(UpstreamError);
  return r as UpstreamError;
}

let pg: ScratchPostgres;
const open: UpstreamSession[] = [];

function target(over: Partial<UpstreamTarget> = {}, tls: UpstreamTarget['tls'] = { mode: 'disable' }): UpstreamTarget {
  return { host: pg.host, port: pg.port, database: pg.database, tls, connect_timeout_ms: 5_000, ...over };
}
async function connect(t: UpstreamTarget, cred: RoleCredential, startup: Record<string, string> = {}): Promise<UpstreamSession> {
  const s = await connectUpstream(t, cred, startup);
  open.push(s);
  return s;
}

beforeAll(async () => {
  pg = await startScratchPostgres({
    users: [
      { name: 'scram_user', password: 'scr4m pw', auth: 'scram-sha-256' },
      { name: 'md5_user', password: 'md5-pw', auth: 'md5' },
      { name: 'cleartext_user', password: 'clear-pw', auth: 'password' },
      { name: 'trust_user', auth: 'trust' },
      { name: 'tls_user', password: 'tls-pw', auth: 'scram-sha-256', ssl: true },
      { name: 'limited_user', password: 'lim-pw', auth: 'scram-sha-256' },
    ],
  });
  console.log(`scratch PostgreSQL on port ${pg.port} started in ${pg.startSeconds.toFixed(2)} s`);
  await pg.query('ALTER ROLE limited_user CONNECTION LIMIT 0');
});

afterAll(async () => {
  for (const s of open) s.socket.destroy();
  await pg?.stop();
});

afterEach(() => {
  while (open.length) {
    const s = open.pop()!;
    s.socket.on('error', () => undefined);
    s.socket.end(serialize.end());
  }
});

describe('authentication', () => {
  it('scram-sha-256: connects, reports parameters, and hands over a clean socket', async () => {
    const s = await connect(target(), { user: 'scram_user', password: 'scr4m pw' });
    expect(s.authMethod).toBe('scram-sha-256');
    expect(s.tls).toBeNull();
    expect(s.parameters.get('server_version')).toMatch(/^\d+/);
    expect(s.parameters.get('client_encoding')).toBe('UTF8');
    expect(s.parameters.has('DateStyle')).toBe(true);
    expect(s.backendKey.processId).toBeGreaterThan(0);
    expect(s.transactionStatus).toBe('I');
    expect(s.pending.length).toBe(0);
    // Handed over: paused, none of connectUpstream's listeners left.
    expect(s.socket.isPaused()).toBe(true);
    expect(s.socket.listenerCount('data')).toBe(0);
    expect(s.socket.listenerCount('error')).toBe(0);

    const msgs = await simpleQuery(s, 'SELECT 1');
    expect(msgs.map((m) => m.name)).toEqual(['rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
    expect(firstColumn(msgs)).toEqual(['1']);
    expect(await scalar(s, 'SELECT session_user')).toBe('scram_user');
    expect(await scalar(s, 'SELECT pg_backend_pid()')).toBe(String(s.backendKey.processId));
  });

  it('scram-sha-256 with a wrong password: auth_failed 28P01, and the password is not in the error', async () => {
    const e = await failure(connectUpstream(target(), { user: 'scram_user', password: 'wrong-secret' }, {}));
    expect(e.code).toBe('auth_failed');
    expect(e.sqlstate).toBe('28P01');
    expect(e.serverMessage).toMatch(/password authentication failed for user "scram_user"/);
    expect(e.message).not.toContain('wrong-secret');
  });

  it('md5: connects with the md5 exchange (not upgraded to SCRAM)', async () => {
    const s = await connect(target(), { user: 'md5_user', password: 'md5-pw' });
    expect(s.authMethod).toBe('md5');
    expect(await scalar(s, 'SELECT session_user')).toBe('md5_user');
  });

  it('md5 with a wrong password: auth_failed 28P01', async () => {
    const e = await failure(connectUpstream(target(), { user: 'md5_user', password: 'nope' }, {}));
    expect(e.code).toBe('auth_failed');
    expect(e.sqlstate).toBe('28P01');
  });

  it('cleartext password: connects', async () => {
    const s = await connect(target(), { user: 'cleartext_user', password: 'clear-pw' });
    expect(s.authMethod).toBe('password');
    expect(await scalar(s, 'SELECT session_user')).toBe('cleartext_user');
  });

  it('cleartext with a wrong password: auth_failed 28P01', async () => {
    const e = await failure(connectUpstream(target(), { user: 'cleartext_user', password: 'nope' }, {}));
    expect(e.code).toBe('auth_failed');
    expect(e.sqlstate).toBe('28P01');
  });

  it('trust: connects without a password', async () => {
    const s = await connect(target(), { user: 'trust_user', password: null });
    expect(s.authMethod).toBe('trust');
    expect(await scalar(s, 'SELECT session_user')).toBe('trust_user');
  });

  it.each([
    ['scram_user', 'SCRAM'],
    ['md5_user', 'md5'],
    ['cleartext_user', 'cleartext password'],
  ])('no password configured for %s: auth_failed naming the role and the method', async (user, method) => {
    const e = await failure(connectUpstream(target(), { user, password: null }, {}));
    expect(e.code).toBe('auth_failed');
    expect(e.sqlstate).toBeUndefined();
    expect(e.message).toContain(`role "${user}"`);
    expect(e.message).toContain(`${method} authentication`);
    expect(e.message).toMatch(/no password is configured/);
  });
});

describe('startup', () => {
  it('unknown database: startup_failed 3D000', async () => {
    const e = await failure(connectUpstream(target({ database: 'no_such_db' }), { user: 'trust_user', password: null }, {}));
    expect(e.code).toBe('startup_failed');
    expect(e.sqlstate).toBe('3D000');
    expect(e.serverMessage).toMatch(/database "no_such_db" does not exist/);
    expect(e.severity).toBe('FATAL');
  });

  it('role connection limit reached: startup_failed 53300', async () => {
    const e = await failure(connectUpstream(target(), { user: 'limited_user', password: 'lim-pw' }, {}));
    expect(e.code).toBe('startup_failed');
    expect(e.sqlstate).toBe('53300');
  });

  it("passes the agent's parameters through, but never its user or database", async () => {
    const s = await connect(target(), { user: 'trust_user', password: null }, {
      user: 'postgres',
      database: 'template1',
      application_name: 'agent-42',
      client_encoding: 'LATIN1',
      DateStyle: 'German, DMY',
      options: '-c statement_timeout=4321',
    });
    expect(s.parameters.get('application_name')).toBe('agent-42');
    expect(s.parameters.get('client_encoding')).toBe('LATIN1');
    expect(s.parameters.get('DateStyle')).toBe('German, DMY');
    expect(await scalar(s, 'SELECT session_user')).toBe('trust_user');
    expect(await scalar(s, 'SELECT current_database()')).toBe(pg.database);
    expect(await scalar(s, 'SHOW statement_timeout')).toBe('4321ms');
  });
});

describe('TLS', () => {
  it('require: encrypted, SCRAM with channel binding (SCRAM-SHA-256-PLUS)', async () => {
    const s = await connect(target({}, { mode: 'require' }), { user: 'scram_user', password: 'scr4m pw' });
    expect(s.tls).not.toBeNull();
    expect(s.tls!.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(s.authMethod).toBe('scram-sha-256-plus');
    expect(await scalar(s, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).toBe('t');
  });

  it('require with channel_binding disable: plain SCRAM-SHA-256 over TLS', async () => {
    const s = await connect(target({ channel_binding: 'disable' }, { mode: 'require' }), { user: 'scram_user', password: 'scr4m pw' });
    expect(s.authMethod).toBe('scram-sha-256');
    expect(s.tls).not.toBeNull();
  });

  it('channel_binding require fails without TLS, and for md5', async () => {
    const plain = await failure(connectUpstream(target({ channel_binding: 'require' }), { user: 'scram_user', password: 'scr4m pw' }, {}));
    expect(plain.code).toBe('auth_failed');
    expect(plain.message).toMatch(/channel_binding/);
    const md5 = await failure(connectUpstream(target({ channel_binding: 'require' }, { mode: 'require' }), { user: 'md5_user', password: 'md5-pw' }, {}));
    expect(md5.code).toBe('auth_failed');
  });

  it('verify-full with the scratch CA: verified, and a hostssl-only user gets in', async () => {
    const s = await connect(target({}, { mode: 'verify-full', ca_file: pg.caFile }), { user: 'tls_user', password: 'tls-pw' });
    expect(s.tls!.authorized).toBe(true);
    expect(await scalar(s, 'SELECT session_user')).toBe('tls_user');
  });

  it('verify-full checks the name: servername localhost ok, another name fails', async () => {
    const ok = await connect(target({}, { mode: 'verify-full', ca_file: pg.caFile, servername: 'localhost' }), { user: 'trust_user', password: null });
    expect(ok.tls!.authorized).toBe(true);
    const e = await failure(
      connectUpstream(target({}, { mode: 'verify-full', ca_file: pg.caFile, servername: 'db.example.com' }), { user: 'trust_user', password: null }, {}),
    );
    expect(e.code).toBe('tls_failed');
    expect(e.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID|does not match/);
  });

  it('verify-full checks the address it dialled when there is no servername (not "localhost")', async () => {
    // A forwarder on 127.0.0.2: the certificate names localhost and 127.0.0.1 only.
    const fwd = net.createServer((c) => {
      const u = net.connect(pg.port, '127.0.0.1');
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => fwd.listen(0, '127.0.0.2', r));
    try {
      const port = (fwd.address() as net.AddressInfo).port;
      const e = await failure(connectUpstream(target({ host: '127.0.0.2', port }, { mode: 'verify-full', ca_file: pg.caFile }), { user: 'trust_user', password: null }, {}));
      expect(e.code).toBe('tls_failed');
      expect(e.message).toMatch(/127\.0\.0\.2/);
      // Same forwarder, naming the certificate's name: fine.
      const s = await connect(target({ host: '127.0.0.2', port }, { mode: 'verify-full', ca_file: pg.caFile, servername: 'localhost' }), { user: 'trust_user', password: null });
      expect(s.tls!.authorized).toBe(true);
    } finally {
      fwd.close();
    }
  });

  it('verify-full without the CA (system CAs only) fails; require does not verify', async () => {
    const e = await failure(connectUpstream(target({}, { mode: 'verify-full' }), { user: 'trust_user', password: null }, {}));
    expect(e.code).toBe('tls_failed');
    const s = await connect(target({}, { mode: 'require' }), { user: 'trust_user', password: null });
    expect(s.tls!.authorized).toBe(false);
  });

  it('verify-full with an unreadable CA file: tls_failed', async () => {
    const e = await failure(connectUpstream(target({}, { mode: 'verify-full', ca_file: '/nonexistent/ca.pem' }), { user: 'trust_user', password: null }, {}));
    expect(e.code).toBe('tls_failed');
    expect(e.message).toContain('/nonexistent/ca.pem');
  });

  it('prefer: uses TLS when the server offers it', async () => {
    const s = await connect(target({}, { mode: 'prefer' }), { user: 'cleartext_user', password: 'clear-pw' });
    expect(s.tls).not.toBeNull();
    expect(s.authMethod).toBe('password');
  });

  it('disable against a hostssl-only user: refused (28000, no pg_hba.conf entry)', async () => {
    const e = await failure(connectUpstream(target(), { user: 'tls_user', password: 'tls-pw' }, {}));
    expect(e.code).toBe('auth_failed');
    expect(e.sqlstate).toBe('28000');
    expect(e.serverMessage).toMatch(/no pg_hba\.conf entry/);
  });
});

describe('cancel', () => {
  for (const mode of ['disable', 'require'] as const) {
    it(`cancelUpstream cancels a running pg_sleep (${mode})`, async () => {
      const t = target({}, { mode });
      const s = await connect(t, { user: 'scram_user', password: 'scr4m pw' });
      const started = performance.now();
      const running = simpleQuery(s, 'SELECT pg_sleep(10)', 8_000);
      // Wait until the backend is really inside pg_sleep (same role: pg_stat_activity hides
      // other roles' wait events).
      const monitor = await connect(t, { user: 'scram_user', password: 'scr4m pw' });
      let state: string | null = null;
      for (let i = 0; i < 50 && state !== 'PgSleep'; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 20));
        state = await scalar(monitor, `SELECT wait_event FROM pg_stat_activity WHERE pid = ${s.backendKey.processId}`);
      }
      expect(state).toBe('PgSleep');
      await cancelUpstream(t, s.backendKey);
      const msgs = await running;
      const err = msgs.find((m) => m.name === 'error') as DatabaseError | undefined;
      expect(err?.code).toBe('57014');
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(await scalar(s, 'SELECT 2')).toBe('2'); // the session survives a cancel
    });
  }

  it('cancelUpstream with a wrong secret key cancels nothing', async () => {
    const t = target();
    const s = await connect(t, { user: 'trust_user', password: null });
    const running = simpleQuery(s, 'SELECT pg_sleep(0.7)', 5_000);
    await new Promise((r) => setTimeout(r, 100));
    await cancelUpstream(t, { processId: s.backendKey.processId, secretKey: s.backendKey.secretKey ^ 1 });
    const msgs = await running;
    expect(msgs.some((m) => m.name === 'error')).toBe(false);
  });
});

// The machine's main server (trust). Skipped, with a reason, where there is none.
const mainUp = await new Promise<boolean>((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port: 5432 });
  s.setTimeout(1_000, () => (s.destroy(), resolve(false)));
  s.on('connect', () => (s.destroy(), resolve(true)));
  s.on('error', () => resolve(false));
});

describe.skipIf(!mainUp)('main server 127.0.0.1:5432 (trust)', () => {
  it.each(['disable', 'prefer'] as const)('plain connect as postgres to db test (tls %s)', async (mode) => {
    const s = await connectUpstream({ host: '127.0.0.1', port: 5432, database: 'test', tls: { mode } }, { user: 'postgres', password: null }, { application_name: 'auditgate-test' });
    try {
      expect(s.authMethod).toBe('trust');
      expect(s.parameters.get('application_name')).toBe('auditgate-test');
      expect(await scalar(s, 'SELECT current_database()')).toBe('test');
    } finally {
      s.socket.destroy();
    }
  });
});
