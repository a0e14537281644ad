// Collect throughput: segments written by the real recorder (synthetic sessions of many
// identities: session start and end, statement intent and outcome, masking), then verified
// and landed in a fresh evidence database by `collectSegments`, as `auditgate collect` does,
// several times (a fresh database each) to show the spread: the machine is shared.
// Reported: the whole collect (records/s), the collect without its derivation of the statement
// tables (collectors/derive-statements.ts), and the parts. Verification (signatures, digests,
// every record hash and chain link) runs on this thread while DuckDB lands the segment before
// on its own (Arrow → Parquet → INSERT, transactions of whole segments, the final CHECKPOINT),
// so the parts' seconds add up to more than the whole.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { onDerivation } from '../collectors/derive-statements.js';
import { openEvidenceDb } from '../collectors/evidence-db.js';
import { collectSegments } from '../collectors/land-segments.js';
import { recordVolume } from '../collectors/segments.fixtures.js';
import { freshKey } from '../proxy/recorder/test-support.js';
import { median } from './stats.js';
import type { BenchSuite } from './suite.js';

export interface CollectRun {
  /** The whole collect: verify, land, derive, checkpoint. */
  seconds: number;
  verifySeconds: number;
  landSeconds: number;
  deriveSeconds: number;
  /** Process CPU time (this thread, DuckDB's) over the collect. */
  cpuSeconds: number;
  /** The host's 1-minute load average as the run started: the machine is shared. */
  load: number;
}

export interface CollectBenchResult {
  records: number;
  segments: number;
  runs: CollectRun[];
  /** Writing the segments with the recorder (batched), for context. */
  recordSeconds: number;
}

export async function runCollectBench(opts: { short: boolean; runs?: number }): Promise<CollectBenchResult> {
  const records = opts.short ? 50_000 : 1_000_000;
  const dir = await mkdtemp(join(tmpdir(), 'auditgate-bench-collect-'));
  let derived = 0;
  const stop = onDerivation((d) => (derived += d.seconds));
  try {
    const key = freshKey();
    const segments = join(dir, 'segments');
    const t0 = performance.now();
    await recordVolume(segments, key, records);
    const recordSeconds = (performance.now() - t0) / 1000;
    const runs: CollectRun[] = [];
    let landedSegments = 0;
    for (let k = 0; k < (opts.runs ?? (opts.short ? 1 : 3)); k++) {
      const path = join(dir, `evidence-${k}.duckdb`);
      const db = await openEvidenceDb(path);
      try {
        derived = 0;
        const load = loadavg()[0]!;
        const cpu0 = process.cpuUsage();
        const r = await collectSegments({ directory: segments, db, publicKey: key.publicKey });
        const cpu = process.cpuUsage(cpu0);
        if (!r.ok || r.recordsLanded !== records) throw new Error(`collect bench: expected ${records} records landed, got ${r.recordsLanded} (${r.findings.map((f) => f.code).join(', ')})`);
        landedSegments = r.landed.length;
        runs.push({ seconds: r.seconds, verifySeconds: r.verifySeconds, landSeconds: r.landSeconds, deriveSeconds: derived, cpuSeconds: (cpu.user + cpu.system) / 1e6, load });
      } finally {
        db.close();
        await rm(path, { force: true });
      }
    }
    return { records, segments: landedSegments, runs, recordSeconds };
  } finally {
    stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** "median (min–max)" of a figure over the runs. */
function spread(xs: number[], show: (x: number) => string): string {
  return xs.length > 1 ? `${show(median(xs))} (${show(Math.min(...xs))}–${show(Math.max(...xs))})` : show(xs[0]!);
}

/** The suite, for bench/run.ts. */
export const collectSuite: BenchSuite = {
  name: 'collect',
  title: 'Collect: verify segments and land them in DuckDB',
  async run(ctx) {
    const r = await runCollectBench({ short: ctx.short });
    const n = r.records;
    const col = (f: (x: CollectRun) => number) => r.runs.map(f);
    const whole = col((x) => x.seconds);
    const collect = col((x) => x.seconds - x.deriveSeconds);
    const s = (x: number) => x.toFixed(2);
    const rate = (x: number) => fmt(n / x);
    // Rates from the same runs' seconds: the fastest run has the highest rate.
    const rates = (xs: number[]) => spread(xs.map((x) => n / x), fmt);
    for (const run of r.runs) ctx.log(`load ${run.load.toFixed(1)}: collect ${run.seconds.toFixed(1)} s (derive ${run.deriveSeconds.toFixed(1)} s), verify ${run.verifySeconds.toFixed(1)} s, land ${run.landSeconds.toFixed(1)} s, CPU ${run.cpuSeconds.toFixed(1)} s`);
    return {
      summary: `collect ${rate(median(collect))} records/s verified and landed, ${rate(median(whole))} records/s with the statement derivation (median of ${r.runs.length})`,
      markdown: [
        `${fmt(n)} synthetic records (${r.segments} segments, written by the batched recorder in ${r.recordSeconds.toFixed(1)} s), collected into a fresh evidence database, ${r.runs.length} time${r.runs.length === 1 ? '' : 's'}: median (min–max).`,
        'Verification runs on the main thread while DuckDB lands the segments before on its own, so the parts add up to more than the whole.',
        '',
        '| part | seconds | records/s |',
        '| --- | ---: | ---: |',
        `| verify (signatures, digests, record hashes, chain) | ${spread(col((x) => x.verifySeconds), s)} | ${rates(col((x) => x.verifySeconds))} |`,
        `| land (Arrow → Parquet → INSERT, transactions of whole segments, CHECKPOINT) | ${spread(col((x) => x.landSeconds), s)} | ${rates(col((x) => x.landSeconds))} |`,
        `| **verify and land** (the collect without the derivation) | ${spread(collect, s)} | ${rates(collect)} |`,
        `| derive the statement tables (derive-statements.ts) | ${spread(col((x) => x.deriveSeconds), s)} | ${rates(col((x) => x.deriveSeconds))} |`,
        `| whole collect | ${spread(whole, s)} | ${rates(whole)} |`,
        `| process CPU over the whole collect (2 cores) | ${spread(col((x) => x.cpuSeconds), s)} | |`,
        '',
        `Host load average (1 min) as each run started: ${r.runs.map((x) => x.load.toFixed(1)).join(', ')} (2 cores; other work on the host slows a run down).`,
      ].join('\n'),
    };
  },
};
