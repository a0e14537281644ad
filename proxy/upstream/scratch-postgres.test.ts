// The scratch-cluster test helper itself: refuses clearly without binaries, cleans up, reaps
// clusters of dead processes; and a real server that refuses TLS.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startScratchPostgres, type ScratchPostgres } from '../../test/support/scratch-postgres.js';
import { connectUpstream, UpstreamError } from './connect.js';

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

describe('startScratchPostgres', () => {
  let pg: ScratchPostgres | undefined;
  afterAll(async () => {
    await pg?.stop();
  });

  it('refuses clearly when initdb is missing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'no-pg-bin-'));
    try {
      await expect(startScratchPostgres({ binDir: empty })).rejects.toThrow(/initdb\/pg_ctl not found.*AUDITGATE_PG_BIN/s);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('reaps a cluster dir whose owner process is gone', async () => {
    const orphan = mkdtempSync(join(tmpdir(), 'auditgate-scratch-pg-'));
    mkdirSync(join(orphan, 'data'));
    writeFileSync(join(orphan, 'owner.pid'), '2147483646'); // no such process
    pg = await startScratchPostgres({ ssl: false, users: [{ name: 'only_trust', auth: 'trust' }] });
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(pg.dataDir)).toBe(true); // its own is alive
  });

  it('a server with ssl off: require is tls_failed, prefer falls back to plaintext', async () => {
    const t = { host: pg!.host, port: pg!.port, database: pg!.database, connect_timeout_ms: 5_000 };
    const e = await connectUpstream({ ...t, tls: { mode: 'require' } }, { user: 'only_trust', password: null }, {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UpstreamError);
    expect((e as UpstreamError).code).toBe('tls_failed');
    const s = await connectUpstream({ ...t, tls: { mode: 'prefer' } }, { user: 'only_trust', password: null }, {});
    expect(s.tls).toBeNull();
    s.socket.destroy();
  });

  it('stop() stops the server and removes its directory; twice is fine', async () => {
    const p = pg!;
    expect(await accepts(p.port)).toBe(true);
    await p.stop();
    expect(existsSync(p.dataDir)).toBe(false);
    expect(await accepts(p.port)).toBe(false);
    await p.stop();
  });
});
