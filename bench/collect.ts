// Collect throughput: segments written by the real recorder (synthetic sessions of many
// identities: session start and end, statement intent and outcome, masking), then verified
// and landed in a fresh evidence database by `collectSegments`, as `auditgate collect` does.
// Reported: the whole collect (records/s), and its two parts, verification (signatures,
// digests, every record hash and chain link) and landing (Arrow → Parquet → one INSERT per
// segment, each in its own transaction, plus the final CHECKPOINT). Landing is measured
// without overlapping the next segment's verification, so it is landing alone.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEvidenceDb } from '../collectors/evidence-db.js';
import { collectSegments } from '../collectors/land-segments.js';
import { recordVolume } from '../collectors/segments.fixtures.js';
import { freshKey } from '../proxy/recorder/test-support.js';
import type { BenchSuite } from './suite.js';

export interface CollectBenchResult {
  records: number;
  /** The whole collect: verify and land every segment. */
  seconds: number;
  rowsPerSecond: number;
  segments: number;
  verifySeconds: number;
  landSeconds: number;
  landRowsPerSecond: number;
  /** Writing the segments with the recorder (batched), for context. */
  recordSeconds: number;
}

export async function runCollectBench(opts: { short: boolean }): Promise<CollectBenchResult> {
  const records = opts.short ? 50_000 : 1_000_000;
  const dir = await mkdtemp(join(tmpdir(), 'auditgate-bench-collect-'));
  try {
    const key = freshKey();
    const segments = join(dir, 'segments');
    const t0 = performance.now();
    await recordVolume(segments, key, records);
    const recordSeconds = (performance.now() - t0) / 1000;
    const db = await openEvidenceDb(join(dir, 'evidence.duckdb'));
    try {
      const r = await collectSegments({ directory: segments, db, publicKey: key.publicKey, overlap: false });
      if (!r.ok || r.recordsLanded !== records) throw new Error(`collect bench: expected ${records} records landed, got ${r.recordsLanded} (${r.findings.map((f) => f.code).join(', ')})`);
      return {
        records,
        seconds: r.seconds,
        rowsPerSecond: Math.round(records / r.seconds),
        segments: r.landed.length,
        verifySeconds: r.verifySeconds,
        landSeconds: r.landSeconds,
        landRowsPerSecond: Math.round(records / r.landSeconds),
        recordSeconds,
      };
    } finally {
      db.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** The suite, for bench/run.ts. */
export const collectSuite: BenchSuite = {
  name: 'collect',
  title: 'Collect: verify segments and land them in DuckDB',
  async run(ctx) {
    const r = await runCollectBench({ short: ctx.short });
    ctx.log(`${fmt(r.records)} records in ${r.segments} segments: collect ${r.seconds.toFixed(1)} s, verify ${r.verifySeconds.toFixed(1)} s, land ${r.landSeconds.toFixed(1)} s`);
    return {
      summary: `collect ${fmt(r.rowsPerSecond)} records/s end to end; landing alone ${fmt(r.landRowsPerSecond)} rows/s`,
      markdown: [
        `${fmt(r.records)} synthetic records (${r.segments} segments, written by the batched recorder in ${r.recordSeconds.toFixed(1)} s), collected into a fresh evidence database.`,
        '',
        '| part | seconds | records/s |',
        '| --- | ---: | ---: |',
        `| verify (signatures, digests, record hashes, chain) | ${r.verifySeconds.toFixed(2)} | ${fmt(r.records / r.verifySeconds)} |`,
        `| land (Arrow → Parquet → INSERT per segment, commit, CHECKPOINT) | ${r.landSeconds.toFixed(2)} | ${fmt(r.landRowsPerSecond)} |`,
        `| whole collect | ${r.seconds.toFixed(2)} | ${fmt(r.rowsPerSecond)} |`,
      ].join('\n'),
    };
  },
};
