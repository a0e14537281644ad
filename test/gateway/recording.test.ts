// The record a real gateway writes for real sessions: what lands in the segments for reads,
// masked reads, denials, writes and both protocols; masked values never written; strict mode
// refusing statements it cannot record; and a gateway killed under load losing no record of
// anything PostgreSQL executed.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess } from '../../bench/support/gateway-process.js';
import { listSegments } from '../../proxy/recorder/files.js';
import { loadPublicKey } from '../../proxy/recorder/keys.js';
import type { StoredRecord } from '../../proxy/recorder/schema.js';
import { readSegment, recordsOf } from '../../proxy/recorder/segment-reader.js';
import { verifyDirectory } from '../../proxy/recorder/verify.js';
import { FIXTURE_DB, PG, directQuery, ensureFixtureDb } from '../support/fixture-db.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';

const WRITERS = ['agents', 'agent-writers'];

async function segmentRecords(dir: string): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for (const s of (await listSegments(dir)).segments) out.push(...recordsOf((await readSegment(s.path)).table));
  return out;
}

async function segmentBytes(dir: string): Promise<string> {
  let all = '';
  for (const s of (await listSegments(dir)).segments) all += (await readFile(s.path)).toString('latin1');
  return all;
}

describe('a recorded session', () => {
  let gw: TestGateway;
  let records: StoredRecord[];
  let bytes: string;
  let shaped: Record<string, unknown>[][] = [];
  const tag = `rec-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    gw = await startTestGateway();
    const client = new pg.Client(gw.pgConfig(await gw.token({ sub: 'agent:recorded', groups: WRITERS, claims: { model: 'claude-test', repository: 'acme/shop', ticket: 'OPS-7' } }), { application_name: 'rec-test' }));
    await client.connect();
    await client.query('SELECT name, ssn, email FROM customers ORDER BY id'); // masked
    await expect(client.query('GRANT ALL ON customers TO PUBLIC')).rejects.toThrow(/denied/);
    await client.query('INSERT INTO scratch.notes (body) VALUES ($1)', [tag]); // extended protocol
    await client.query('SELECT count(*) FROM scratch.notes WHERE body = $1', [tag]);
    await expect(client.query('SELECT * FROM no_such_table')).rejects.toThrow(/does not exist/);
    // Same shape, other constants: the second reuses the first's decision (decision cache by shape).
    shaped = [(await client.query('SELECT id, ssn FROM customers WHERE id = 1')).rows, (await client.query('SELECT id, ssn FROM customers WHERE id = 2')).rows];
    await client.end();
    await gw.running.close(); // seals the segment
    const dir = join(gw.dir, 'segments');
    records = await segmentRecords(dir);
    bytes = await segmentBytes(dir);
    const report = await verifyDirectory(dir, await loadPublicKey(join(gw.dir, 'keys/segment-signing.pub.pem')));
    expect(report.findings).toEqual([]);
  });

  afterAll(async () => {
    await rm(gw.dir, { recursive: true, force: true });
    await directQuery('DELETE FROM scratch.notes WHERE body = $1', [tag]);
  });

  const session = () => records.filter((r) => r.subject === 'agent:recorded');
  const statements = () => session().filter((r) => r.kind === 'statement');
  const outcomeOf = (r: StoredRecord) => session().find((x) => x.kind === 'statement_end' && x.statement_id === r.statement_id);

  it('starts with the policy bundle in force, then the session with its identity and connect decision', () => {
    expect(records[0]!.kind).toBe('bundle_loaded');
    expect(records[0]!.bundle_sha256).toMatch(/^[0-9a-f]{64}$/);
    const start = session().find((r) => r.kind === 'session_start')!;
    expect(start).toMatchObject({ decision: 'allow', identity_kind: 'agent', application_name: 'rec-test', database: FIXTURE_DB, upstream_role: 'auditgate_writer' });
    expect(JSON.parse(start.groups!)).toEqual(WRITERS);
    expect(JSON.parse(start.claims!)).toMatchObject({ model: 'claude-test', repository: 'acme/shop', ticket: 'OPS-7' });
    expect(JSON.parse(start.detail!)).toMatchObject({ tls: false });
    expect(session().at(-1)!.kind).toBe('session_end');
  });

  it('records every statement with its facts and decision, and the outcome of what ran', () => {
    const [read, grant, insert, count, missing] = statements();
    expect(read).toMatchObject({ sql: 'SELECT name, ssn, email FROM customers ORDER BY id', decision: 'allow', statement_kind: 'select', protocol: 'simple' });
    expect(JSON.parse(read!.tables!)).toEqual([{ schema: null, name: 'customers', access: 'read' }]);
    expect(outcomeOf(read!)).toMatchObject({ rows: 2, error_sqlstate: null });
    const masked = JSON.parse(outcomeOf(read!)!.masked!) as { column: string; count: number }[];
    expect(masked.find((m) => m.column === 'public.customers.ssn')?.count).toBe(2);

    expect(grant).toMatchObject({ decision: 'deny', statement_kind: 'privilege' });
    expect(JSON.parse(grant!.reasons!).length).toBeGreaterThan(0);
    expect(outcomeOf(grant!)).toBeUndefined(); // never ran

    expect(insert).toMatchObject({ sql: 'INSERT INTO scratch.notes (body) VALUES ($1)', decision: 'allow', statement_kind: 'insert', protocol: 'extended' });
    expect(insert!.params_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(outcomeOf(insert!)).toMatchObject({ rows: 1, error_sqlstate: null });
    expect(outcomeOf(insert!)!.duration_us).toBeGreaterThan(0);

    expect(outcomeOf(count!)).toMatchObject({ rows: 1 });
    expect(outcomeOf(missing!)).toMatchObject({ error_sqlstate: '42P01' });
  });

  it('records statements that share a decision by shape with their own text, and masks both', () => {
    const [first, second] = statements().slice(5);
    expect(first).toMatchObject({ sql: 'SELECT id, ssn FROM customers WHERE id = 1', decision: 'allow', statement_kind: 'select' });
    expect(second).toMatchObject({ sql: 'SELECT id, ssn FROM customers WHERE id = 2', decision: 'allow', statement_kind: 'select' });
    expect(second!.fingerprint).toBe(first!.fingerprint);
    for (const r of [first!, second!]) {
      const masked = JSON.parse(outcomeOf(r)!.masked!) as { column: string; count: number }[];
      expect(masked.find((m) => m.column === 'public.customers.ssn')?.count).toBe(1);
    }
    expect(shaped.map((rows) => rows.map((row) => row.id))).toEqual([[1], [2]]);
    for (const rows of shaped) expect(String(rows[0]!.ssn)).not.toMatch(/^\d{3}-\d{2}-\d{4}$/);
  });

  it('never writes a masked value, nor a bound parameter', () => {
    expect(bytes).not.toContain('123-45-6789');
    expect(bytes).not.toContain('987-65-4321');
    expect(bytes).not.toContain(tag);
  });
});

describe('connections refused at startup', () => {
  it('are recorded with the reason and SQLSTATE (a bad token, a denied connect)', async () => {
    const gw = await startTestGateway();
    try {
      const bad = new pg.Client(gw.pgConfig('not-a-jwt'));
      await expect(bad.connect()).rejects.toThrow();
      await gw.running.close();
      const refused = (await segmentRecords(join(gw.dir, 'segments'))).filter((r) => r.kind === 'session_start' && r.decision === 'deny');
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ error_sqlstate: expect.stringMatching(/^28/), subject: null });
      expect(JSON.parse(refused[0]!.detail!)).toMatchObject({ user: 'agent', tls: false });
    } finally {
      await rm(gw.dir, { recursive: true, force: true });
    }
  });
});

describe('strict mode when the record cannot be written', () => {
  it('refuses statements (58030) without running them, and recovers when the disk has room', async (ctx) => {
    const segs = await mkdtemp(join(tmpdir(), 'auditgate-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', segs], { stdio: 'ignore' });
    } catch {
      await rm(segs, { recursive: true });
      return ctx.skip(); // needs root (CI runs as root)
    }
    const gw = await startTestGateway({ config: { recording: { dir: segs } } });
    const tag = `full-${process.pid}-${Date.now()}`;
    try {
      const client = new pg.Client(gw.pgConfig(await gw.token({ groups: WRITERS })));
      await client.connect();
      await client.query('SELECT 1');
      await writeFile(join(segs, 'filler'), Buffer.alloc(1 << 20)).catch(() => {}); // the disk is now full
      // Padded past a page: a small record could still fit in the segment's last allocated page.
      const pad = `/* ${'x'.repeat(16_384)} */`;
      await expect(client.query(`INSERT INTO scratch.notes (body) VALUES ('${tag}') ${pad}`)).rejects.toMatchObject({ code: '58030' });
      await expect(client.query(`INSERT INTO scratch.notes (body) VALUES ($1) ${pad}`, [tag])).rejects.toMatchObject({ code: '58030' });
      expect((await directQuery('SELECT count(*)::int AS n FROM scratch.notes WHERE body = $1', [tag])).rows[0].n).toBe(0);
      await unlink(join(segs, 'filler'));
      await client.query(`INSERT INTO scratch.notes (body) VALUES ('${tag}')`);
      expect((await directQuery('SELECT count(*)::int AS n FROM scratch.notes WHERE body = $1', [tag])).rows[0].n).toBe(1);
      await client.end();
      await gw.running.close();
      const inserted = (await segmentRecords(segs)).filter((r) => r.kind === 'statement' && r.sql?.includes(tag));
      expect(inserted).toHaveLength(1);
    } finally {
      await gw.running.close().catch(() => {});
      execFileSync('umount', ['-l', segs]);
      await rm(gw.dir, { recursive: true, force: true });
      await rm(segs, { recursive: true, force: true });
      await directQuery('DELETE FROM scratch.notes WHERE body = $1', [tag]);
    }
  });
});

describe('kill -9 under load', () => {
  it('after a restart every statement PostgreSQL executed has its record, and the chain verifies', async () => {
    await ensureFixtureDb();
    const dir = await mkdtemp(join(tmpdir(), 'auditgate-kill-'));
    const tag = `kill-${process.pid}-${Date.now()}`;
    const upstream = { host: PG.host, port: PG.port, database: FIXTURE_DB };
    let gw = await startGatewayProcess(dir, upstream, { config: { recording: { gateway_id: 'gw-kill' } } });
    try {
      // Eight clients insert as fast as they can; the gateway dies mid-stream.
      let stop = false;
      const clients = await Promise.all(
        Array.from({ length: 8 }, async (_, c) => {
          const client = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'agent', database: FIXTURE_DB, password: gw.token });
          client.on('error', () => {});
          await client.connect();
          // Wrapped: an async function returning the loop's promise would wait for the loop.
          return {
            done: (async () => {
              for (let i = 0; !stop; i++) {
                try {
                  await client.query(`INSERT INTO scratch.notes (body) VALUES ('${tag}-${c}-${i}')`);
                } catch {
                  return;
                }
              }
            })(),
          };
        }),
      );
      await new Promise((r) => setTimeout(r, 1500));
      await gw.kill();
      stop = true;
      await Promise.all(clients.map((c) => c.done));

      gw = await startGatewayProcess(dir, upstream, { port: gw.port, config: { recording: { gateway_id: 'gw-kill' } } }); // recovers
      const after = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'agent', database: FIXTURE_DB, password: gw.token });
      await after.connect();
      await after.query(`INSERT INTO scratch.notes (body) VALUES ('${tag}-after')`);
      await after.end();
      await gw.stop();

      const executed = (await directQuery('SELECT body FROM scratch.notes WHERE body LIKE $1', [`${tag}-%`])).rows.map((r) => r.body as string);
      expect(executed.length).toBeGreaterThan(20);
      const segs = join(dir, 'segments');
      const recorded = new Set((await segmentRecords(segs)).filter((r) => r.kind === 'statement').map((r) => /VALUES \('([^']+)'\)/.exec(r.sql ?? '')?.[1]));
      const unrecorded = executed.filter((b) => !recorded.has(b));
      expect(unrecorded).toEqual([]);
      const report = await verifyDirectory(segs, await loadPublicKey(join(dir, 'keys/segment-signing.pub.pem')));
      expect(report.findings).toEqual([]);
      const seals = await Promise.all((await listSegments(segs)).segments.map(async (s) => JSON.parse(await readFile(s.sealPath, 'utf8')) as { recovered: boolean }));
      expect(seals.some((s) => s.recovered)).toBe(true);
    } finally {
      await gw.kill();
      await rm(dir, { recursive: true, force: true });
      await directQuery('DELETE FROM scratch.notes WHERE body LIKE $1', [`${tag}-%`]);
    }
  });
});
