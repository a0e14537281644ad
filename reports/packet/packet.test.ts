import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { appendFile, cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openEvidenceDb } from '../../collectors/evidence-db.js';
import { keyIdOf, type SigningKey } from '../../proxy/recorder/keys.js';
import { verifyCommand } from '../../cli/commands/verify.js';
import { CliError } from '../../cli/errors.js';
import { makeStatement, pae, signStatement, type DsseEnvelope } from './dsse.js';
import { CsvRecordCounter, csvDataRows, sha256File, sha256Hex } from './hash.js';
import { buildManifest, serializeManifest } from './manifest.js';
import { runPacketQuery } from './query-file.js';
import { verifyPacket, type FindingCode } from './verify.js';
import { finishPacket, type Generation } from './write.js';

const newKey = (): SigningKey => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
};

let tmp: string;
let dbPath: string;
let packet: string;
let key: SigningKey;
let n = 0;

async function copyPacket(): Promise<string> {
  const d = join(tmp, `copy-${n++}`);
  await cp(packet, d, { recursive: true });
  return d;
}

/** Finding codes, checked against the trusted key unless opts say otherwise. */
const codes = async (dir: string, opts: { publicKey?: KeyObject; dbPath?: string } = {}) => {
  const r = await verifyPacket(dir, { publicKey: key.publicKey, ...opts });
  return r.findings.map((f) => f.code);
};

async function makePacket(dir: string, signingKey: SigningKey): Promise<void> {
  const db = await openEvidenceDb(dbPath, { readOnly: true });
  try {
    await runPacketQuery(db.connection, { id: 'access', title: 'All access', sql: 'SELECT id, who, note, ts FROM t_access ORDER BY id' }, dir);
    await runPacketQuery(
      db.connection,
      { id: 'alice', title: 'Alice in the period', sql: 'SELECT id, note FROM t_access WHERE who = $who AND ts >= CAST($from AS TIMESTAMP) ORDER BY id', params: { who: 'alice', from: '2026-01-01 00:00:00' }, file: 'data/alice.csv' },
      dir,
    );
  } finally {
    db.close();
  }
  const generation: Generation = {
    tool: 'auditgate',
    tool_version: '0.1.0-test',
    generated_at: '2026-11-23T00:00:00.000Z',
    generated_by: 'test@host',
    arguments: { from: '2026-01-01', to: '2026-03-31' },
    period: { from: '2026-01-01T00:00:00', to: '2026-03-31T23:59:59', time_zone: 'Europe/Berlin' },
    evidence_db: { sha256: (await sha256File(dbPath)).sha256 },
    policy_bundles: [{ name: 'default', sha256: 'a'.repeat(64) }],
  };
  await finishPacket(dir, { signingKey, generation });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'auditgate-packet-'));
  dbPath = join(tmp, 'evidence.duckdb');
  const db = await openEvidenceDb(dbPath);
  try {
    await db.connection.run('CREATE TABLE t_access (id INTEGER, who VARCHAR, note VARCHAR, ts TIMESTAMP)');
    await db.connection.run(`INSERT INTO t_access VALUES
      (1, 'alice', 'plain', '2026-01-05 10:00:00'),
      (2, 'bob', 'has, comma', '2026-01-06 11:00:00'),
      (3, 'alice', 'quote "x" and
newline', '2026-02-01 12:00:00'),
      (4, 'alice', NULL, '2025-12-31 23:00:00')`);
  } finally {
    db.close();
  }
  key = newKey();
  packet = join(tmp, 'packet');
  await makePacket(packet, key);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('helpers', () => {
  it('builds the DSSE PAE as the spec says', () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });
  it('counts CSV data rows with quoted line breaks', () => {
    expect(csvDataRows('a,b\r\n1,"x\r\ny"\r\n2,""\r\n')).toBe(2);
    expect(csvDataRows('a,b\n1,2')).toBe(1);
    expect(csvDataRows('a,b\r\n')).toBe(0);
    expect(csvDataRows('')).toBe(0);
    // Fed in chunks split anywhere (inside "" escapes, between CR and LF), the count is the same.
    const text = 'a,b\r\n1,"say ""hi""\r\nthere"\r\n2,x\n3,"\n"\r\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const c = new CsvRecordCounter();
      c.feed(text.slice(0, cut));
      c.feed(text.slice(cut));
      expect(c.dataRows()).toBe(3);
    }
  });
});

describe('a fresh packet', () => {
  it('has the files, the query meta and a sorted manifest', async () => {
    const manifest = JSON.parse(await readFile(join(packet, 'manifest.json'), 'utf8')) as { files: { path: string; rows?: number }[] };
    const paths = manifest.files.map((f) => f.path);
    expect(paths).toEqual([...paths].sort());
    expect(paths).toEqual(['VERIFY.md', 'access.csv', 'data/alice.csv', 'generation.json', 'queries/access.meta.json', 'queries/access.sql', 'queries/alice.meta.json', 'queries/alice.sql', 'signing-key.pub.pem']);
    expect(manifest.files.find((f) => f.path === 'access.csv')?.rows).toBe(4);
    expect(manifest.files.find((f) => f.path === 'data/alice.csv')?.rows).toBe(2);
    const meta = JSON.parse(await readFile(join(packet, 'queries/alice.meta.json'), 'utf8'));
    expect(meta).toMatchObject({ id: 'alice', sql_file: 'queries/alice.sql', parameters: { who: 'alice', from: '2026-01-01 00:00:00' }, row_count: 2, outputs: ['data/alice.csv'] });
    expect(meta.result_sha256).toMatch(/^[0-9a-f]{64}$/);
    const env = JSON.parse(await readFile(join(packet, 'manifest.intoto.json'), 'utf8')) as DsseEnvelope;
    const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString());
    expect(env.payloadType).toBe('application/vnd.in-toto+json');
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.subject).toEqual([{ name: 'manifest.json', digest: { sha256: sha256Hex(await readFile(join(packet, 'manifest.json'))) } }]);
    expect(env.signatures[0]?.keyid).toBe(key.keyId);
  });

  it('verifies, with the key, and with --db', async () => {
    const r = await verifyPacket(packet, { publicKey: key.publicKey, dbPath });
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.rerun).toBe(2);
    expect(r.notes.join()).toMatch(/byte for byte the evidence database/);
  });

  it('verifies against its own key copy without --public-key, and says origin is unchecked', async () => {
    const r = await verifyPacket(packet);
    expect(r.ok).toBe(true);
    expect(r.trust).toBe('embedded');
    expect(r.notes.join()).toMatch(/not who signed it/);
  });
});

describe('tampering', () => {
  const files = ['VERIFY.md', 'access.csv', 'data/alice.csv', 'generation.json', 'queries/access.meta.json', 'queries/access.sql', 'queries/alice.meta.json', 'queries/alice.sql', 'signing-key.pub.pem', 'manifest.json', 'manifest.intoto.json'];
  it.each(files)('a changed byte in %s fails', async (f) => {
    const d = await copyPacket();
    const p = join(d, f);
    const buf = await readFile(p);
    const i = f === 'manifest.intoto.json' ? buf.indexOf('"sig": "') + 12 : Math.floor(buf.length / 2);
    buf[i] = buf[i] === 0x41 ? 0x42 : 0x41;
    await writeFile(p, buf);
    const c = await codes(d);
    expect(c.length).toBeGreaterThan(0);
    if (f === 'manifest.json') expect(c).toContain('manifest_changed');
    else if (f === 'manifest.intoto.json') expect(c).toContain('bad_signature');
    else expect(c).toContain('changed_file');
  });

  it('a removed file fails', async () => {
    const d = await copyPacket();
    await unlink(join(d, 'data/alice.csv'));
    expect(await codes(d)).toEqual(['missing_file']);
  });

  it('a removed signature fails', async () => {
    const d = await copyPacket();
    await unlink(join(d, 'manifest.intoto.json'));
    expect(await codes(d)).toEqual(['missing_signature']);
  });

  it('an added file fails', async () => {
    const d = await copyPacket();
    await writeFile(join(d, 'queries', 'extra.sql'), 'SELECT 1\n');
    expect(await codes(d)).toEqual(['extra_file']);
  });

  it('a foreign-key signature over a rebuilt manifest fails against the trusted key', async () => {
    const d = await copyPacket();
    await appendFile(join(d, 'access.csv'), '5,mallory,forged,2026-01-07 00:00:00\r\n');
    const mallory = newKey();
    const text = serializeManifest(await buildManifest(d));
    await writeFile(join(d, 'manifest.json'), text);
    await writeFile(join(d, 'manifest.intoto.json'), JSON.stringify(signStatement(makeStatement(sha256Hex(text), {}), mallory.privateKey, mallory.publicKey)));
    expect(await codes(d)).toContain('foreign_key');
    // Swapping the packet's own key copy too fools nothing once the trusted key is given...
    await writeFile(join(d, 'signing-key.pub.pem'), mallory.publicKey.export({ type: 'spki', format: 'pem' }));
    expect(await codes(d)).toContain('foreign_key');
    // ...and without it the report says the signer was not authenticated.
    const self = await verifyPacket(d);
    expect(self.trust).toBe('embedded');
    expect(self.notes.join()).toMatch(/not who signed it/);
  });

  it('a foreign signature naming the trusted key id fails as a bad signature', async () => {
    const d = await copyPacket();
    const mallory = newKey();
    const text = await readFile(join(d, 'manifest.json'));
    const env = signStatement(makeStatement(sha256Hex(text), {}), mallory.privateKey, mallory.publicKey);
    env.signatures[0]!.keyid = key.keyId;
    await writeFile(join(d, 'manifest.intoto.json'), JSON.stringify(env));
    expect(await codes(d)).toEqual(['bad_signature']);
  });

  it('a signature replaced by one from another packet fails', async () => {
    const other = join(tmp, 'other-packet');
    await makePacket(other, key);
    await writeFile(join(other, 'note.txt'), 'different\n');
    const text = serializeManifest(await buildManifest(other));
    const env = signStatement(makeStatement(sha256Hex(text), {}), key.privateKey, key.publicKey);
    const d = await copyPacket();
    await writeFile(join(d, 'manifest.intoto.json'), JSON.stringify(env));
    expect(await codes(d)).toEqual(['manifest_changed']);
  });

  it('a changed payload under the old signature fails', async () => {
    const d = await copyPacket();
    const env = JSON.parse(await readFile(join(d, 'manifest.intoto.json'), 'utf8')) as DsseEnvelope;
    const st = JSON.parse(Buffer.from(env.payload, 'base64').toString());
    st.predicate.files = 99;
    env.payload = Buffer.from(JSON.stringify(st)).toString('base64');
    await writeFile(join(d, 'manifest.intoto.json'), JSON.stringify(env));
    expect(await codes(d)).toEqual(['bad_signature']);
  });

  it('a CSV row removed, manifest hash patched but not its row count, reports the row count', async () => {
    const d = await copyPacket();
    const csv = (await readFile(join(d, 'access.csv'), 'utf8')).split('\r\n');
    csv.splice(1, 1);
    await writeFile(join(d, 'access.csv'), csv.join('\r\n'));
    const m = JSON.parse(await readFile(join(d, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string; bytes: number }[] };
    const e = m.files.find((f) => f.path === 'access.csv')!;
    Object.assign(e, await sha256File(join(d, 'access.csv')));
    await writeFile(join(d, 'manifest.json'), JSON.stringify(m));
    const c = await codes(d);
    expect(c).toContain('row_count_mismatch');
    expect(c).toContain('manifest_changed');
    expect(c).not.toContain('changed_file');
  });

  it('a path escaping the packet in the manifest is refused', async () => {
    const d = await copyPacket();
    const m = JSON.parse(await readFile(join(d, 'manifest.json'), 'utf8')) as { files: { path: string }[] };
    m.files[0]!.path = '../evidence.duckdb';
    await writeFile(join(d, 'manifest.json'), JSON.stringify(m));
    const c = await codes(d);
    expect(c).toContain('bad_path');
    expect(c).toContain('extra_file'); // VERIFY.md is no longer listed
  });
});

describe('--db', () => {
  it('catches a changed evidence database', async () => {
    const changedDb = join(tmp, 'changed.duckdb');
    await cp(dbPath, changedDb);
    const db = await openEvidenceDb(changedDb);
    try {
      await db.connection.run(`UPDATE t_access SET note = 'rewritten' WHERE id = 3`);
    } finally {
      db.close();
    }
    const r = await verifyPacket(packet, { publicKey: key.publicKey, dbPath: changedDb });
    expect(r.findings.map((f) => [f.code, f.path])).toEqual([
      ['query_result_changed', 'queries/access.sql'],
      ['query_result_changed', 'queries/alice.sql'],
    ]);
  });

  it('accepts a database that grew outside the queries, with a note', async () => {
    const grownDb = join(tmp, 'grown.duckdb');
    await cp(dbPath, grownDb);
    const db = await openEvidenceDb(grownDb);
    try {
      await db.connection.run('CREATE TABLE unrelated (x INTEGER)');
      await db.connection.run('INSERT INTO unrelated VALUES (1)');
      await db.connection.run('CHECKPOINT');
    } finally {
      db.close();
    }
    const r = await verifyPacket(packet, { publicKey: key.publicKey, dbPath: grownDb });
    expect(r.ok).toBe(true);
    expect(r.notes.join()).toMatch(/not byte for byte/);
  });

  it('reports a CSV that does not match its query even when its hash was re-signed', async () => {
    // The signer's own key re-signs a packet whose CSV differs from the query: only --db sees it.
    const d = await copyPacket();
    await appendFile(join(d, 'access.csv'), '5,x,y,z\r\n');
    const meta = JSON.parse(await readFile(join(d, 'queries/access.meta.json'), 'utf8'));
    meta.row_count = 5;
    await writeFile(join(d, 'queries/access.meta.json'), JSON.stringify(meta));
    for (const f of ['manifest.json', 'manifest.intoto.json', 'generation.json', 'VERIFY.md', 'signing-key.pub.pem']) await rm(join(d, f));
    const gen = JSON.parse(await readFile(join(packet, 'generation.json'), 'utf8')) as Generation;
    await finishPacket(d, { signingKey: key, generation: gen });
    expect(await codes(d)).toEqual([]);
    expect(await codes(d, { publicKey: key.publicKey, dbPath })).toEqual(['csv_differs_from_query'] satisfies FindingCode[]);
  });
});

describe('verify command', () => {
  const run = async (args: Record<string, unknown>) => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const before = process.exitCode;
    try {
      await (verifyCommand.handler as (a: unknown) => Promise<void>)({ _: [], $0: 'auditgate', ...args });
      return { out: out.join(''), code: process.exitCode };
    } finally {
      spy.mockRestore();
      process.exitCode = before;
    }
  };

  it('exits 0 on a clean packet and 1 on a finding', async () => {
    const pub = join(tmp, 'trusted.pub.pem');
    await writeFile(pub, key.publicKey.export({ type: 'spki', format: 'pem' }));
    const ok = await run({ packet, 'public-key': pub, db: dbPath });
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^OK: /m);
    const d = await copyPacket();
    await writeFile(join(d, 'extra.txt'), 'x');
    const bad = await run({ packet: d, 'public-key': pub, json: true });
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.out)).toMatchObject({ ok: false, findings: [{ code: 'extra_file', path: 'extra.txt' }] });
  });

  it('is a usage error (exit 2) for a missing packet, a bad key or a zip', async () => {
    await expect(run({ packet: join(tmp, 'nope') })).rejects.toMatchObject({ exitCode: 2 });
    await expect(run({ packet, 'public-key': join(tmp, 'nope.pem') })).rejects.toBeInstanceOf(CliError);
    await expect(run({ packet: 'p.zip' })).rejects.toMatchObject({ exitCode: 2 });
  });
});
