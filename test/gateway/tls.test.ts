// TLS to agents: SSLRequest answered with a handshake, require_tls refusing plaintext, and
// GSSENCRequest declined.
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';
import { rawConnect } from '../support/raw-client.js';

let gw: TestGateway;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'auditgate-tls-'));
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
  ]);
  gw = await startTestGateway({ config: { listen: { host: '127.0.0.1', port: 0, tls: { cert_file: cert, key_file: key }, require_tls: true } } });
});
afterAll(async () => gw?.close());

describe('TLS for agents', () => {
  it('accepts a TLS session and refuses plaintext when require_tls is on', async () => {
    const token = await gw.token();
    const tlsClient = new pg.Client(gw.pgConfig(token, { ssl: { rejectUnauthorized: false } }));
    await tlsClient.connect();
    expect((await tlsClient.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await tlsClient.end();

    const plain = new pg.Client(gw.pgConfig(token, { ssl: false }));
    plain.on('error', () => {});
    await expect(plain.connect()).rejects.toMatchObject({ code: '28000', message: expect.stringMatching(/TLS is required/) });
  });

  it('declines GSSENCRequest with N', async () => {
    const s = await rawConnect(gw.port, { typed: false });
    const gss = Buffer.alloc(8);
    gss.writeInt32BE(8, 0);
    gss.writeInt32BE(80877104, 4);
    s.send(gss);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.raw().toString()).toBe('N');
    s.socket.destroy();
  });
});
