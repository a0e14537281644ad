// The CC6 packet over recorded fixtures (real Recorder segments, collected into real DuckDB):
// the seeded sample is reproducible and re-drawable by hand, the figures are the scripted
// workload's, and the packet is sealed the way `auditgate verify` expects.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvidenceDb } from '../../collectors/evidence-db.js';
import { collectSegments } from '../../collectors/land-segments.js';
import { record, recordVolume, scriptedWorkload } from '../../collectors/segments.fixtures.js';
import { freshKey } from '../../proxy/recorder/test-support.js';
import { verifyPacket } from '../packet/verify.js';
import { generateCc6Report } from './generate.js';
import type { Selection } from './sample.js';
import { checkFigureReferences } from './test-support.js';

let dir: string;
let db: string;
const key = () => join(dir, 'keys', 'packet.pem');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-cc6-unit-'));
  const k = freshKey();
  await record(join(dir, 'segments'), k, scriptedWorkload(), { segmentMaxBytes: 8_000 });
  await recordVolume(join(dir, 'segments-volume'), k, 3_000, { gatewayId: 'gw-volume' });
  db = join(dir, 'evidence.duckdb');
  const e = await openEvidenceDb(db);
  try {
    expect((await collectSegments({ directory: join(dir, 'segments'), db: e, publicKey: k.publicKey })).ok).toBe(true);
    expect((await collectSegments({ directory: join(dir, 'segments-volume'), db: e, publicKey: k.publicKey })).ok).toBe(true);
  } finally {
    e.close();
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const report = (out: string, over: { seed?: string; sampleSize?: number } = {}) =>
  generateCc6Report({ db, from: '2025-03-01', to: '2025-03-31', out: join(dir, out), signingKey: key(), sampleSize: over.sampleSize ?? 10, ...(over.seed ? { seed: over.seed } : {}) });
const selection = async (out: string) => JSON.parse(await readFile(join(dir, out, 'samples', 'selection.json'), 'utf8')) as Selection;
const ids = (s: Selection) => s.sampled.map((x) => `${x.gateway_id}/${x.session_id}`);

describe('the seeded sample', () => {
  it('same seed, same sample; another seed, another sample; both re-drawable by hand from the population file', async () => {
    await report('a', { seed: 'audit-2025' });
    await report('b', { seed: 'audit-2025' });
    await report('c', { seed: 'another-seed' });
    const [a, b, c] = [await selection('a'), await selection('b'), await selection('c')];
    expect(a.size).toBe(10);
    expect(ids(a)).toEqual(ids(b));
    expect(ids(c)).not.toEqual(ids(a));
    expect(a.population.sha256).toBe(c.population.sha256);
    // The auditor's re-draw: sha256("seed:gateway:session") over the population file, ascending.
    const population = (await readFile(join(dir, 'a', 'samples', 'population.csv'), 'utf8')).trim().split('\n').slice(1).map((l) => l.split(','));
    expect(population.length).toBe(a.population.rows);
    const redrawn = population
      .map(([gw, session]) => ({ id: `${gw}/${session}`, key: createHash('sha256').update(`audit-2025:${gw}:${session}`).digest('hex') }))
      .sort((x, y) => (x.key < y.key ? -1 : 1))
      .slice(0, 10)
      .map((x) => x.id);
    expect(redrawn).toEqual(ids(a));
    // Each sampled session has its transcript: every record of that session, in order.
    const t = await readFile(join(dir, 'a', a.sampled[0]!.transcript), 'utf8');
    expect(t.split('\n')[1]).toContain('session_start');
  });

  it('without a seed, derives one from the population digest: the same evidence draws the same sample', async () => {
    await report('d');
    await report('e');
    const [d, e] = [await selection('d'), await selection('e')];
    expect(d.seed_source).toBe('derived from the population digest');
    expect(d.seed).toBe(d.population.sha256.slice(0, 16));
    expect(ids(d)).toEqual(ids(e));
  });
});

describe('the packet over the scripted workload', () => {
  it('shows the workload\'s figures, reproducible from queries/, and verifies with the evidence database', async () => {
    const r = await report('f');
    // scriptedWorkload: 2 admitted sessions and 1 refused; plus recordVolume's sessions on gw-volume.
    expect(r.figures).toMatchObject({ connections_refused: 1, authentication_failures: 1, approvals: 1, approvals_granted: 1, approvals_sod_failures: 0, bundles_in_force: 2 });
    expect(r.figures.statements).toBe(r.rowCounts['population-statements']);
    expect(r.figures.sessions).toBe(r.rowCounts['population-sessions']);
    const check = await checkFigureReferences(join(dir, 'f'), db);
    expect(check.mismatches).toEqual([]);
    const v = await verifyPacket(join(dir, 'f'), { dbPath: db });
    expect(v.findings).toEqual([]);
    expect(v.rerun).toBe(v.queries);
  });
});
