// connectUpstream / cancelUpstream against scripted fake servers: the behaviours a real,
// well-configured PostgreSQL will not show on demand (GSS requests, refusing TLS, silence,
// injected bytes, a lying SCRAM server, a non-PostgreSQL service).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cancelUpstream, connectUpstream, UpstreamError, type UpstreamSession, type UpstreamTarget } from './connect.js';

// --- a tiny scripted server ---------------------------------------------------------------

class Wire {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed = false;
  readonly closedPromise: Promise<void>;
  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    sock.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      sock.on('close', () => {
        this.closed = true;
        this.wake?.();
        resolve();
      }),
    );
  }
  private async need(n: number): Promise<void> {
    while (this.buf.length < n) {
      if (this.closed) throw new Error('client closed');
      await new Promise<void>((r) => (this.wake = r));
    }
  }
  /** A length-prefixed untyped packet (SSLRequest, StartupMessage, CancelRequest). */
  async packet(): Promise<Buffer> {
    await this.need(4);
    const len = this.buf.readInt32BE(0);
    await this.need(len);
    const p = this.buf.subarray(0, len);
    this.buf = this.buf.subarray(len);
    return p;
  }
  async message(): Promise<{ code: string; body: Buffer }> {
    await this.need(5);
    const len = this.buf.readInt32BE(1);
    await this.need(1 + len);
    const m = { code: String.fromCharCode(this.buf[0]!), body: this.buf.subarray(5, 1 + len) };
    this.buf = this.buf.subarray(1 + len);
    return m;
  }
  send(...bufs: Buffer[]): void {
    this.sock.write(Buffer.concat(bufs));
  }
}

function msg(code: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(code, 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}
const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const cstr = (s: string): Buffer => Buffer.from(s + '\0');
const R = (kind: number, extra: Buffer = Buffer.alloc(0)): Buffer => msg('R', Buffer.concat([int32(kind), extra]));
const S = (k: string, v: string): Buffer => msg('S', Buffer.concat([cstr(k), cstr(v)]));
const K = (pid: number, key: number): Buffer => msg('K', Buffer.concat([int32(pid), int32(key)]));
const Z = msg('Z', Buffer.from('I'));
const fields = (f: Record<string, string>): Buffer =>
  Buffer.concat([...Object.entries(f).map(([k, v]) => Buffer.concat([Buffer.from(k), cstr(v)])), Buffer.alloc(1)]);

/** Parses a StartupMessage into its parameters. */
function startupParams(p: Buffer): [string, string][] {
  expect(p.readInt32BE(4)).toBe(196608);
  const parts = p.subarray(8).toString('utf8').split('\0');
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) out.push([parts[i]!, parts[i + 1]!]);
  return out;
}

const servers: net.Server[] = [];
const sessions: UpstreamSession[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  for (const s of sessions.splice(0)) s.socket.destroy();
});

/** Starts a server running `script` for each connection; returns its target and the wires seen. */
async function fake(script: (w: Wire) => Promise<void>, tlsMode: UpstreamTarget['tls']['mode'] = 'disable', timeout = 3_000) {
  const wires: Wire[] = [];
  const done: Promise<void>[] = [];
  const server = net.createServer((sock) => {
    const w = new Wire(sock);
    wires.push(w);
    done.push(script(w).catch(() => undefined));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const target: UpstreamTarget = { host: '127.0.0.1', port, database: 'db', tls: { mode: tlsMode }, connect_timeout_ms: timeout };
  return { target, wires, done };
}

async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  const r = await p.then(
    () => new Error('should have failed'),
    (e: unknown) => e,
  );
  expect(r).toBeInstanceOf(UpstreamError);
  return r as UpstreamError;
}

const alice = { user: 'alice', password: 's3cret' };

// --- tests ----------------------------------------------------------------------------------

describe('connection failures', () => {
  it('connect_failed when nothing listens', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const e = await failure(connectUpstream({ host: '127.0.0.1', port, database: 'db', tls: { mode: 'disable' } }, alice, {}));
    expect(e.code).toBe('connect_failed');
    expect(e.message).toContain('ECONNREFUSED');
  });

  it.each(['disable', 'require'] as const)('timeout when the server says nothing (tls %s), and the socket is closed', async (mode) => {
    const { target, wires } = await fake(async () => new Promise(() => undefined), mode, 250);
    const t0 = performance.now();
    const e = await failure(connectUpstream(target, alice, {}));
    expect(e.code).toBe('timeout');
    expect(e.message).toMatch(mode === 'disable' ? /startup\/authentication/ : /SSLRequest/);
    expect(performance.now() - t0).toBeLessThan(1_500);
    await wires[0]!.closedPromise;
  });

  it('a non-PostgreSQL service is recognised at once, not after the timeout', async () => {
    const { target } = await fake(async (w) => {
      await w.packet();
      w.send(Buffer.from('HTTP')); // fewer bytes than a message header, and the connection stays open
    }, 'disable', 5_000);
    const t0 = performance.now();
    const e = await failure(connectUpstream(target, alice, {}));
    expect(e.code).toBe('startup_failed');
    expect(e.message).toMatch(/0x48.*not a PostgreSQL server/);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('the server closing during authentication without an error: startup_failed', async () => {
    const { target } = await fake(async (w) => {
      await w.packet();
      w.sock.end();
    });
    const e = await failure(connectUpstream(target, alice, {}));
    expect(e.code).toBe('startup_failed');
    expect(e.message).toMatch(/closed the connection during startup/);
  });
});

describe('authentication methods the gateway does not do', () => {
  it.each([
    [7, 'GSSAPI'],
    [9, 'SSPI'],
    [2, 'KerberosV5'],
  ])('request %i (%s): auth_unsupported, and the connection is closed', async (kind, name) => {
    const { target, wires } = await fake(async (w) => {
      await w.packet();
      w.send(R(kind));
    });
    const e = await failure(connectUpstream(target, alice, {}));
    expect(e.code).toBe('auth_unsupported');
    expect(e.message).toContain(name);
    await wires[0]!.closedPromise;
  });

  it('SASL without a SCRAM-SHA-256 mechanism: auth_unsupported', async () => {
    const { target } = await fake(async (w) => {
      await w.packet();
      w.send(R(10, Buffer.concat([cstr('SCRAM-SHA-1'), Buffer.alloc(1)])));
    });
    const e = await failure(connectUpstream(target, alice, {}));
    expect(e.code).toBe('auth_unsupported');
    expect(e.message).toContain('SCRAM-SHA-1');
  });
});

describe('SCRAM mutual authentication', () => {
  /** Plays the server side of SCRAM up to the client-final-message, then `end`. */
  const scramServer = (end: (w: Wire) => void) => async (w: Wire) => {
    await w.packet();
    w.send(R(10, Buffer.concat([cstr('SCRAM-SHA-256'), Buffer.alloc(1)])));
    const first = await w.message(); // SASLInitialResponse: mechanism\0 int32 len, "n,,n=*,r=<nonce>"
    const mechEnd = first.body.indexOf(0);
    const clientFirst = first.body.subarray(mechEnd + 5).toString();
    const nonce = /r=([^,]+)/.exec(clientFirst)![1]!;
    w.send(R(11, Buffer.from(`r=${nonce}SERVERNONCE,s=${Buffer.from('salty-salt').toString('base64')},i=4096`)));
    await w.message(); // client-final-message with the proof
    end(w);
  };

  it('a server that skips SASLFinal (never proves it knows the password): auth_failed', async () => {
    const { target } = await fake(scramServer((w) => w.send(R(0), S('server_version', '15'), K(1, 2), Z)));
    const e = await failure(connectUpstream(target, alice, {}));
    expect(e.code).toBe('auth_failed');
    expect(e.message).toMatch(/without proving/);
  });

  it('a server with a wrong signature: auth_failed', async () => {
    const { target } = await fake(scramServer((w) => w.send(R(12, Buffer.from(`v=${Buffer.alloc(32, 7).toString('base64')}`)), R(0), Z)));
    const e = await failure(connectUpstream(target, alice, {}));
    expect(e.code).toBe('auth_failed');
    expect(e.message).toMatch(/server signature does not match/);
    expect(e.message).not.toContain('s3cret');
  });
});

describe('TLS negotiation', () => {
  it("require/verify-full: 'N' to SSLRequest is tls_failed", async () => {
    for (const mode of ['require', 'verify-full'] as const) {
      const { target } = await fake(async (w) => {
        await w.packet();
        w.send(Buffer.from('N'));
      }, mode);
      const e = await failure(connectUpstream(target, alice, {}));
      expect(e.code).toBe('tls_failed');
      expect(e.message).toMatch(/does not accept TLS/);
    }
  });

  it("'S' followed by plaintext bytes (injection before the handshake): tls_failed", async () => {
    const { target } = await fake(async (w) => {
      await w.packet();
      w.send(Buffer.from('S'), R(0), Z);
    }, 'require');
    const e = await failure(connectUpstream(target, alice, {}));
    expect(e.code).toBe('tls_failed');
    expect(e.message).toMatch(/man-in-the-middle/);
  });

  it("prefer: 'N' falls back to plaintext on the same connection; startup carries the gateway's user and database", async () => {
    let ssl: Buffer | undefined;
    let startup: [string, string][] = [];
    const notice = msg('N', fields({ S: 'NOTICE', C: '00000', M: 'hello from startup' }));
    const { target } = await fake(async (w) => {
      ssl = await w.packet();
      w.send(Buffer.from('N'));
      startup = startupParams(await w.packet());
      w.send(R(3));
      const pw = await w.message();
      expect(pw.code).toBe('p');
      expect(pw.body.toString()).toBe('s3cret\0');
      // Everything after AuthenticationOk in one write, plus bytes after ReadyForQuery.
      w.send(R(0), notice, S('server_version', '15.4'), S('client_encoding', 'SQL_ASCII'), K(4242, -17), Z, msg('N', fields({ M: 'late' })));
    }, 'prefer');
    const s = await connectUpstream(target, alice, {
      application_name: 'agent',
      user: 'mallory',
      database: 'other',
      replication: 'database',
      '_pq_.x': '1',
      client_encoding: 'SQL_ASCII',
    });
    sessions.push(s);
    expect(ssl!.readInt32BE(4)).toBe(80877103);
    expect(startup).toEqual([
      ['user', 'alice'],
      ['database', 'db'],
      ['application_name', 'agent'],
      ['client_encoding', 'SQL_ASCII'],
    ]);
    expect(s.tls).toBeNull();
    expect(s.authMethod).toBe('password');
    expect(s.backendKey).toEqual({ processId: 4242, secretKey: -17 });
    expect([...s.parameters]).toEqual([
      ['server_version', '15.4'],
      ['client_encoding', 'SQL_ASCII'],
    ]);
    expect(s.notices).toEqual([notice]);
    expect(s.pending).toEqual(msg('N', fields({ M: 'late' })));
  });
});

describe('cancelUpstream', () => {
  it('sends a CancelRequest with the key and waits for the server to close', async () => {
    let got: Buffer | undefined;
    const { target, done } = await fake(async (w) => {
      got = await w.packet();
      w.sock.end();
    });
    await cancelUpstream(target, { processId: 77, secretKey: -5 });
    await Promise.all(done);
    expect(got!.length).toBe(16);
    expect(got!.readInt32BE(4)).toBe(80877102);
    expect(got!.readInt32BE(8)).toBe(77);
    expect(got!.readInt32BE(12)).toBe(-5);
  });

  it('times out when the server never closes', async () => {
    const { target } = await fake(async () => new Promise(() => undefined), 'disable', 200);
    const e = await failure(cancelUpstream(target, { processId: 1, secretKey: 1 }));
    expect(e.code).toBe('timeout');
  });
});
