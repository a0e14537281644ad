import { execFileSync } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { appendFile, mkdtemp, readdir, readFile, readlink, rename, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listSegments } from './files.js';
import { walkFraming } from './ipc.js';
import { Recorder, RecorderUnavailable, type RecorderOptions } from './recorder.js';
import { bodyOf, signSeal, type Seal } from './seal.js';
import { readSegment, recordsOf } from './segment-reader.js';
import { freshKey, sampleStatement } from './test-support.js';
import { verifyDirectory, type FindingCode } from './verify.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'auditgate-rec-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const key = freshKey();
const options = (directory: string, over: Partial<RecorderOptions> = {}): RecorderOptions => ({
  directory,
  gatewayId: 'gw-test',
  key,
  durability: 'strict',
  batchIntervalMs: 20,
  segmentMaxBytes: 64 << 20,
  segmentMaxAgeMs: 3_600_000,
  maxPendingRecords: 10_000,
  ...over,
});

async function record(dir: string, n: number, over: Partial<RecorderOptions> = {}): Promise<Recorder> {
  const r = await Recorder.open(options(dir, over));
  await Promise.all(Array.from({ length: n }, (_, i) => r.append(sampleStatement(i))));
  return r;
}

async function allRecords(dir: string) {
  const { segments } = await listSegments(dir);
  const out = [];
  for (const s of segments) out.push(...recordsOf((await readSegment(s.path)).table));
  return out;
}

const codes = async (dir: string, k = key.publicKey) => [...new Set((await verifyDirectory(dir, k)).findings.map((f) => f.code))].sort();

describe('recorder', () => {
  it('opens the segment it writes with O_DSYNC: a write returns once it is on disk, no separate fdatasync', async () => {
    const dir = await tempDir();
    const r = await record(dir, 3);
    // The open segment's descriptor in this process, and its open flags (octal) from /proc.
    const open = [];
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (target.startsWith(dir) && target.endsWith('.arrows')) open.push(fd);
    }
    expect(open).toHaveLength(1);
    const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(await readFile(`/proc/self/fdinfo/${open[0]}`, 'utf8'))![1]!, 8);
    expect(flags & fsConstants.O_DSYNC).toBe(fsConstants.O_DSYNC);
    await r.close();
  });

  it('writes every record once, in sequence, values intact, and the chain verifies', async () => {
    const dir = await tempDir();
    const r = await record(dir, 500);
    await r.close();
    const records = await allRecords(dir);
    expect(records.map((x) => x.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(records.map((x) => x.sql).sort()).toEqual(Array.from({ length: 500 }, (_, i) => sampleStatement(i).sql).sort());
    const ts = records[0]!.ts;
    expect(Math.abs(ts - Date.now() * 1000)).toBeLessThan(60e6); // microseconds since the epoch
    expect(records[0]!.rows).toBeNull();
    expect(await codes(dir)).toEqual([]);
  });

  it('shares an fsync between records that arrive together (group commit)', async () => {
    const dir = await tempDir();
    const r = await record(dir, 1000);
    await r.close();
    const { segments } = await listSegments(dir);
    const framing = walkFraming(await readFile(segments[0]!.path));
    expect(framing.batches).toBeLessThan(50);
    expect(framing.batches).toBeGreaterThanOrEqual(1);
  });

  it('rotates by size; each segment sealed, chained to the one before', async () => {
    const dir = await tempDir();
    const r = await Recorder.open(options(dir, { segmentMaxBytes: 20_000 }));
    for (let i = 0; i < 300; i++) await r.append(sampleStatement(i)); // one batch per record
    await r.close();
    const { segments } = await listSegments(dir);
    expect(segments.length).toBeGreaterThan(3);
    const report = await verifyDirectory(dir, key.publicKey);
    expect(report.findings).toEqual([]);
    expect(report.gateways).toEqual([{ gatewayId: 'gw-test', segments: segments.length, records: 300, firstSeq: 1, lastSeq: 300 }]);
  });

  it('continues the chain across a restart', async () => {
    const dir = await tempDir();
    await (await record(dir, 10)).close();
    const r = await record(dir, 10);
    await r.close();
    expect((await allRecords(dir)).map((x) => x.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await codes(dir)).toEqual([]);
  });

  it('batched mode acknowledges at once and writes within the interval', async () => {
    const dir = await tempDir();
    const r = await Recorder.open(options(dir, { durability: 'batched', batchIntervalMs: 20 }));
    await Promise.all(Array.from({ length: 50 }, (_, i) => r.append(sampleStatement(i))));
    await new Promise((res) => setTimeout(res, 200));
    expect(r.recordsWritten).toBe(50);
    await r.close();
    expect(await codes(dir)).toEqual([]);
  });

  it('batched mode writes once per interval while records keep arriving, not back to back', async () => {
    const dir = await tempDir();
    const r = await Recorder.open(options(dir, { durability: 'batched', batchIntervalMs: 50 }));
    // A record every millisecond or so for ~300 ms: at most one write per tick (about 6) and
    // one at close. Writing on while the queue refilled made a batch of a record or two each.
    const until = Date.now() + 300;
    let i = 0;
    while (Date.now() < until) {
      await r.append(sampleStatement(i++));
      await new Promise((res) => setTimeout(res, 1));
    }
    await r.close();
    const { segments } = await listSegments(dir);
    const framing = walkFraming(await readFile(segments[0]!.path));
    expect(i).toBeGreaterThan(50);
    expect(framing.batches).toBeLessThanOrEqual(10);
    expect((await allRecords(dir)).length).toBe(i);
    expect(await codes(dir)).toEqual([]);
  });
});

describe('crash recovery', () => {
  it('seals what a killed gateway left, cutting a torn tail, and loses no acknowledged record', async () => {
    const dir = await tempDir();
    const r = await record(dir, 40); // acknowledged, never closed: the process "dies" here
    void r;
    const { segments } = await listSegments(dir);
    await appendFile(segments[0]!.path, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x10, 0x01, 0, 0, 1, 2, 3])); // half a batch
    const restarted = await Recorder.open(options(dir));
    await restarted.append(sampleStatement(1000));
    await restarted.close();
    const records = await allRecords(dir);
    expect(records.map((x) => x.seq)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    const seal = JSON.parse(await readFile(segments[0]!.sealPath, 'utf8')) as Seal;
    expect(seal.recovered).toBe(true);
    expect(await codes(dir)).toEqual([]);
  });

  it('refuses to start on top of a chain that does not verify', async () => {
    const dir = await tempDir();
    await record(dir, 5);
    const { segments } = await listSegments(dir);
    const bytes = await readFile(segments[0]!.path);
    const i = bytes.indexOf('customers WHERE id = 3');
    bytes[i + 21] = '7'.charCodeAt(0);
    await writeFile(segments[0]!.path, bytes);
    await expect(Recorder.open(options(dir))).rejects.toThrow(/does not match its contents/);
  });
});

describe('tampering is detected', () => {
  async function threeSegments(): Promise<{ dir: string; names: string[] }> {
    const dir = await tempDir();
    const r = await Recorder.open(options(dir, { segmentMaxBytes: 1 }));
    for (let i = 0; i < 3; i++) await r.append(sampleStatement(i));
    await r.close();
    const names = (await listSegments(dir)).segments.map((s) => s.path);
    expect(names).toHaveLength(3);
    expect(await codes(dir)).toEqual([]);
    return { dir, names };
  }

  const cases: [string, (s: { dir: string; names: string[] }) => Promise<void>, FindingCode[]][] = [
    [
      'one flipped byte',
      async ({ names }) => {
        const b = await readFile(names[1]!);
        const i = b.indexOf('customers WHERE');
        b[i] = b[i]! ^ 0x01;
        await writeFile(names[1]!, b);
      },
      ['bad_record', 'digest_mismatch'],
    ],
    ['a deleted middle segment', async ({ names }) => unlink(names[1]!), ['orphan_seal', 'sequence_gap', 'chain_break', 'seal_chain_break']],
    ['a deleted middle segment and its seal', async ({ names }) => { await unlink(names[1]!); await unlink(`${names[1]!}.seal`); }, ['sequence_gap', 'chain_break', 'seal_chain_break']],
    ['a truncated last segment', async ({ names }) => truncate(names[2]!, (await readFile(names[2]!)).length - 100), ['digest_mismatch', 'torn']],
    [
      'two segments reordered (names swapped with their seals)',
      async ({ names }) => {
        const [a, b] = [names[0]!, names[1]!];
        for (const ext of ['', '.seal']) {
          await rename(a + ext, `${a}${ext}.x`);
          await rename(b + ext, a + ext);
          await rename(`${a}${ext}.x`, b + ext);
        }
      },
      ['renamed', 'missing_start'],
    ],
    [
      'a replaced signature',
      async ({ names }) => {
        const s0 = JSON.parse(await readFile(`${names[0]!}.seal`, 'utf8')) as Seal;
        const s1 = JSON.parse(await readFile(`${names[1]!}.seal`, 'utf8')) as Seal;
        await writeFile(`${names[1]!}.seal`, JSON.stringify({ ...s1, signature: s0.signature }));
      },
      ['bad_signature'],
    ],
    [
      'a segment re-sealed with another key',
      async ({ names }) => {
        const other = freshKey();
        const s1 = JSON.parse(await readFile(`${names[1]!}.seal`, 'utf8')) as Seal;
        await writeFile(`${names[1]!}.seal`, JSON.stringify(signSeal({ ...bodyOf(s1), key_id: other.keyId }, other.privateKey)));
      },
      ['wrong_key'],
    ],
    ['a duplicated segment', async ({ dir, names }) => {
      await writeFile(join(dir, 'gw-test.0000000000000009.arrows'), await readFile(names[2]!));
      await writeFile(join(dir, 'gw-test.0000000000000009.arrows.seal'), await readFile(`${names[2]!}.seal`));
    }, ['renamed', 'sequence_overlap']],
  ];

  for (const [name, tamper, expected] of cases) {
    it(name, async () => {
      const s = await threeSegments();
      await tamper(s);
      const found = await codes(s.dir);
      for (const code of expected) expect(found).toContain(code);
    });
  }

  it('an unsealed last segment is reported unless allowed (a running gateway)', async () => {
    const dir = await tempDir();
    await record(dir, 3);
    expect(await codes(dir)).toEqual(['unsealed']);
    expect((await verifyDirectory(dir, key.publicKey, { allowOpen: true })).findings).toEqual([]);
  });
});

describe('when the disk fails (strict)', () => {
  let mounted: string | null = null;
  afterEach(() => {
    if (mounted) execFileSync('umount', ['-l', mounted]);
    mounted = null;
  });

  function tmpfs(dir: string, size: string): boolean {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
      mounted = dir;
      return true;
    } catch {
      return false;
    }
  }

  it('refuses records while the disk is full and writes again once there is room', async (ctx) => {
    const dir = await tempDir();
    if (!tmpfs(dir, '256k')) return ctx.skip(); // needs root (CI runs as root)
    const r = await record(dir, 10);
    const filler = join(dir, 'filler');
    await writeFile(filler, Buffer.alloc(1 << 20)).catch(() => {}); // fills the file system
    await expect(r.append(sampleStatement(11))).rejects.toBeInstanceOf(RecorderUnavailable);
    expect(r.failure).toBe('ENOSPC');
    await unlink(filler);
    await r.append(sampleStatement(12));
    expect(r.failure).toBeNull();
    await r.close();
    const records = await allRecords(dir);
    expect(records.map((x) => x.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(records.at(-1)!.sql).toBe(sampleStatement(12).sql);
    expect((await verifyDirectory(dir, key.publicKey)).findings).toEqual([]);
    expect((await readdir(dir)).filter((n) => n.endsWith('.seal'))).toHaveLength(1);
  });

  it('refuses records when the directory becomes read-only', async (ctx) => {
    const dir = await tempDir();
    if (!tmpfs(dir, '4m')) return ctx.skip();
    // Every batch sealed at once: no file stays open, so the file system can be remounted read-only.
    const r = await record(dir, 3, { segmentMaxBytes: 1 });
    await expect.poll(async () => (await readdir(dir)).filter((n) => n.endsWith('.seal')).length).toBe((await listSegments(dir)).segments.length);
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    await expect(r.append(sampleStatement(4))).rejects.toThrow(/could not be written/);
    execFileSync('mount', ['-o', 'remount,rw', dir]);
    await r.append(sampleStatement(5));
    await r.close();
    expect((await allRecords(dir)).map((x) => x.seq)).toEqual([1, 2, 3, 4]);
  });
});

describe('the canonical hash', () => {
  it('is the same computed from values (chain.ts, the reference) and from Arrow columns (what the encoder and verifier use)', async () => {
    const { RecordHasher } = await import('./chain.js');
    const dir = await tempDir();
    const r = await Recorder.open(options(dir));
    await r.append({ kind: 'session_start', session_id: 's', subject: 'ü-ñicode ✓', rows: 2 ** 40 + 7, duration_us: null, detail: '{"a":1}' });
    await Promise.all([r.append(sampleStatement(1)), r.append({ kind: 'session_end', session_id: 's', sql: 'x'.repeat(5000) })]);
    await r.close();
    const records = await allRecords(dir);
    const h = new RecordHasher();
    for (const rec of records) expect(Buffer.from(h.hash(rec)).toString('hex')).toBe(Buffer.from(rec.hash).toString('hex'));
    expect(records[0]!.rows).toBe(2 ** 40 + 7);
    expect(records[0]!.subject).toBe('ü-ñicode ✓');
  });
});
