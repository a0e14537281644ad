import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyCommand } from '../../cli/commands/verify.js';
import { openEvidenceDb } from '../../collectors/evidence-db.js';
import { keyIdOf, type SigningKey } from '../../proxy/recorder/keys.js';
import { sha256File } from './hash.js';
import { runPacketQuery } from './query-file.js';
import { PacketError, verifyPacketZip } from './verify.js';
import { finishPacket } from './write.js';
import { extractPacketZip, writePacketZip } from './zip.js';

let tmp: string;
let dbPath: string;
let packet: string;
let zip: string;
let key: SigningKey;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'auditgate-zip-'));
  dbPath = join(tmp, 'evidence.duckdb');
  const db = await openEvidenceDb(dbPath);
  try {
    await db.connection.run('CREATE TABLE t (id INTEGER, v VARCHAR)');
    await db.connection.run(`INSERT INTO t VALUES (1, 'one'), (2, 'two, "2"')`);
    await runPacketQuery(db.connection, { id: 't', title: 'T', sql: 'SELECT * FROM t ORDER BY id', file: 'data/t.csv' }, (packet = join(tmp, 'packet')));
  } finally {
    db.close();
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  key = { privateKey, publicKey, keyId: keyIdOf(publicKey) };
  zip = join(tmp, 'packet.zip');
  await finishPacket(packet, {
    signingKey: key,
    zip,
    generation: {
      tool: 'auditgate',
      tool_version: 'test',
      generated_at: '2026-11-23T00:00:00Z',
      generated_by: 'test',
      arguments: {},
      period: { from: '2026-01-01', to: '2026-01-31', time_zone: 'UTC' },
      evidence_db: { sha256: (await sha256File(dbPath)).sha256 },
      policy_bundles: [],
    },
  });
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const codes = async (z: string) => (await verifyPacketZip(z, { publicKey: key.publicKey, dbPath })).findings.map((f) => f.code);

describe('zipped packets', () => {
  it('verify passes on the zip finishPacket wrote, with --db', async () => {
    const r = await verifyPacketZip(zip, { publicKey: key.publicKey, dbPath });
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.packet).toBe(zip);
    expect(r.rerun).toBe(1);
  });

  it('is deterministic and readable by unzip where installed', async () => {
    const again = join(tmp, 'again.zip');
    await writePacketZip(packet, again);
    expect(await readFile(again)).toEqual(await readFile(zip));
    let listing: string | null = null;
    try {
      listing = execFileSync('unzip', ['-Z1', zip], { encoding: 'utf8' });
      execFileSync('unzip', ['-tq', zip]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (listing !== null) expect(listing.split('\n').filter(Boolean)).toContain('data/t.csv');
  });

  it('refuses a zip inside the packet folder', async () => {
    await expect(finishPacket(packet, { signingKey: key, zip: join(packet, 'p.zip'), generation: {} as never })).rejects.toThrow(/outside the packet/);
  });

  it('a changed byte in the compressed data fails', async () => {
    const buf = await readFile(zip);
    const i = buf.indexOf('data/t.csv') + 'data/t.csv'.length + 2; // inside the first entry's data
    buf[i] = buf[i]! ^ 0xff;
    const z = join(tmp, 'flipped.zip');
    await writeFile(z, buf);
    const c = await codes(z);
    expect(c).toContain('bad_zip_entry');
    expect(c).toContain('missing_file');
  });

  it('a zip of a tampered folder fails; so does one with an added file', async () => {
    const d = join(tmp, 'tampered');
    await cp(packet, d, { recursive: true });
    await writeFile(join(d, 'data/t.csv'), (await readFile(join(d, 'data/t.csv'), 'utf8')).replace('one', 'One'));
    await writePacketZip(d, join(tmp, 'tampered.zip'));
    expect(await codes(join(tmp, 'tampered.zip'))).toEqual(['changed_file']);
    const e = join(tmp, 'extra');
    await cp(packet, e, { recursive: true });
    await writeFile(join(e, 'extra.txt'), 'x');
    await writePacketZip(e, join(tmp, 'extra.zip'));
    expect(await codes(join(tmp, 'extra.zip'))).toEqual(['extra_file']);
  });

  it('an entry escaping the folder is reported and not extracted', async () => {
    const d = join(tmp, 'slip');
    await cp(packet, d, { recursive: true });
    await mkdir(join(d, 'zz'));
    await writeFile(join(d, 'zz/evil'), 'x');
    const z = join(tmp, 'slip.zip');
    await writePacketZip(d, z);
    const buf = await readFile(z);
    for (let i = buf.indexOf('zz/evil'); i >= 0; i = buf.indexOf('zz/evil', i + 1)) buf.write('../evil', i);
    await writeFile(z, buf);
    const out = join(tmp, 'slip-out', 'inner');
    await mkdir(out, { recursive: true });
    const problems = await extractPacketZip(z, out);
    expect(problems.join()).toMatch(/outside the packet/);
    await expect(readFile(join(tmp, 'slip-out', 'evil'))).rejects.toThrow();
    expect(await codes(z)).toEqual(['bad_zip_entry']);
  });

  it('the verify command takes a zip: exit 0 clean, 2 for a file that is not a zip', async () => {
    const pub = join(tmp, 'pub.pem');
    await writeFile(pub, key.publicKey.export({ type: 'spki', format: 'pem' }));
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const before = process.exitCode;
    try {
      await (verifyCommand.handler as (a: unknown) => Promise<void>)({ _: [], $0: 'auditgate', packet: zip, 'public-key': pub, db: dbPath });
      expect(process.exitCode).toBe(0);
      await writeFile(join(tmp, 'junk.zip'), 'junk');
      await expect((verifyCommand.handler as (a: unknown) => Promise<void>)({ _: [], $0: 'auditgate', packet: join(tmp, 'junk.zip') })).rejects.toMatchObject({ exitCode: 2 });
    } finally {
      spy.mockRestore();
      process.exitCode = before;
    }
    expect(out.join('')).toMatch(/^OK: /m);
  });

  it('a file that is not a zip is a PacketError', async () => {
    const z = join(tmp, 'not.zip');
    await writeFile(z, 'hello');
    await expect(verifyPacketZip(z)).rejects.toBeInstanceOf(PacketError);
  });
});
