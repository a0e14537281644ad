import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listSegments } from '../proxy/recorder/files.js';
import { freshKey } from '../proxy/recorder/test-support.js';
import { genesisPoint, verifySegmentFile } from '../proxy/recorder/verify.js';
import { openEvidenceDb, type EvidenceDb } from './evidence-db.js';
import { SegmentLander, type SegmentToLand } from './segment-lander.js';
import { record, scriptedWorkload } from './segments.fixtures.js';

const key = freshKey();
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(): Promise<{ dir: string; db: EvidenceDb; segments: SegmentToLand[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'auditgate-lander-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  await record(join(dir, 'segments'), key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
  const db = await openEvidenceDb(join(dir, 'evidence.duckdb'));
  cleanup.push(() => db.close());
  const segments: SegmentToLand[] = [];
  let before = genesisPoint();
  for (const file of (await listSegments(join(dir, 'segments'))).segments) {
    const v = await verifySegmentFile(file, key.publicKey, before);
    expect(v.findings).toEqual([]);
    segments.push({ v, seal: v.seal! });
    before = v.end!;
  }
  return { dir, db, segments };
}

const count = async (db: EvidenceDb, table: string) => Number((await db.connection.runAndReadAll(`SELECT count(*) FROM ${table}`)).getRows()[0]![0]);

describe('segment lander', () => {
  it('commits whole segments in transactions of at least batchRecords records', async () => {
    const { dir, db, segments } = await setup();
    const commits: string[][] = [];
    const lander = await SegmentLander.start({
      db,
      runId: 'run-1',
      tempDir: dir,
      batchRecords: 7,
      onCommitted: (s) => void commits.push(s.map((x) => x.v.file.name)),
      onFailed: () => expect.fail('nothing fails here'),
      onStopped: () => expect.fail('nothing stops here'),
    });
    for (const s of segments) await lander.add(s);
    await lander.finish();
    expect(commits.flat()).toEqual(segments.map((s) => s.v.file.name));
    // Every transaction but the last holds 7 records or more; each segment in exactly one.
    const records = new Map(segments.map((s) => [s.v.file.name, s.v.records]));
    // ...and commits as soon as it does: without its last segment it held fewer.
    const sum = (names: string[]) => names.reduce((n, name) => n + records.get(name)!, 0);
    for (const c of commits.slice(0, -1)) {
      expect(sum(c)).toBeGreaterThanOrEqual(7);
      expect(sum(c.slice(0, -1))).toBeLessThan(7);
    }
    expect(commits.length).toBeGreaterThan(1);
    expect(await count(db, 'records')).toBe(30);
    expect(await count(db, 'segments')).toBe(segments.length);
  });

  it('a staging file it cannot write fails the open transaction: none of its segments lands', async () => {
    const { dir, db, segments } = await setup();
    const failed: string[] = [];
    const stopped: string[] = [];
    const lander = await SegmentLander.start({
      db,
      runId: 'run-1',
      tempDir: join(dir, 'gone'), // no such directory: the Parquet file cannot be created
      onCommitted: () => expect.fail('nothing commits'),
      onFailed: (s, err) => {
        expect(err.message).toMatch(/ENOENT/);
        failed.push(...s.map((x) => x.v.file.name));
      },
      onStopped: (s) => void stopped.push(s.v.file.name),
    });
    for (const s of segments.slice(0, 2)) await lander.add(s);
    await lander.finish();
    expect(lander.failure).not.toBeNull();
    expect(failed).toEqual([segments[0]!.v.file.name]);
    expect(stopped).toEqual([segments[1]!.v.file.name]);
    expect(await count(db, 'records')).toBe(0);
    expect(await count(db, 'segments')).toBe(0);
  });
});
