// One `report cc6` run in its own process, so its peak resident memory is the report's alone
// (the benchmark process has just generated the evidence in DuckDB). Writes one JSON line per
// progress report ({"step"}) as it goes, so a failed run still shows where its time went, then
// {"run"} or {"error"}.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { openEvidenceDb } from '../collectors/evidence-db.js';
import { resolvePeriod } from '../reports/cc6/period.js';
import { periodParams } from '../reports/cc6/queries/period-sql.js';
import { statementsPopulation } from '../reports/cc6/queries/populations.js';
import { generateCc6Report } from '../reports/cc6/generate.js';
import { copyQueryTo } from '../reports/packet/copy-query.js';
import { sha256File } from '../reports/packet/hash.js';
import { paramsUsedBy } from '../reports/packet/query-file.js';

export interface ReportJob {
  db: string;
  from: string;
  to: string;
  out: string;
  signingKey: string;
  /** Instead of the report: time the statements population alone (its CSV, Parquet and hash), the packet's largest part. */
  floor?: boolean;
}

/** One step of the floor measurement: wall time and this process's CPU time (DuckDB's threads included). */
export interface FloorStep {
  step: string;
  wallMs: number;
  cpuMs: number;
}

export interface ReportStep {
  id: string;
  /** Time from the previous progress report to this one: the query's (or step's) wall time. */
  ms: number;
  /** This process's CPU time over the same span (DuckDB's threads included; 2 cores: up to twice ms). */
  cpuMs: number;
}

export interface ReportRun {
  elapsedMs: number;
  /** Wall time per stage of the report (its own accounting). */
  stages: { stage: string; ms: number }[];
  steps: ReportStep[];
  files: number;
  figures: Record<string, number | string | null>;
  maxRssMb: number;
}

export type WorkerLine = { step: ReportStep } | { run: ReportRun } | { floor: FloorStep[] } | { error: string; maxRssMb: number };

const say = (line: WorkerLine) => process.stdout.write(`${JSON.stringify(line)}\n`);
const job = JSON.parse(process.argv[2] ?? '') as ReportJob;
const steps: ReportStep[] = [];
let last = performance.now();
let lastCpu = process.cpuUsage();

async function measureFloor(): Promise<FloorStep[]> {
  const period = resolvePeriod(job.from, job.to, 'UTC');
  const params = periodParams(period);
  const used = paramsUsedBy(statementsPopulation.sql, params);
  const db = await openEvidenceDb(job.db, { readOnly: true });
  const out: FloorStep[] = [];
  const time = async (step: string, f: () => Promise<unknown>) => {
    const t = performance.now();
    const c = process.cpuUsage();
    await f();
    const u = process.cpuUsage(c);
    out.push({ step, wallMs: performance.now() - t, cpuMs: (u.user + u.system) / 1000 });
  };
  const csv = join(job.out, 'statements.csv');
  try {
    await db.connection.run(`SET TimeZone = 'UTC'`);
    await time('CSV (DuckDB COPY)', () => copyQueryTo(db.connection, statementsPopulation.sql, used, csv, 'csv'));
    await time('Parquet (DuckDB COPY)', () => copyQueryTo(db.connection, statementsPopulation.sql, used, join(job.out, 'statements.parquet'), 'parquet'));
    await time('sha256 of the CSV', () => sha256File(csv));
  } finally {
    db.close();
    await rm(job.out, { recursive: true, force: true });
  }
  return out;
}

try {
  if (job.floor) {
    await mkdir(job.out, { recursive: true });
    say({ floor: await measureFloor() });
  } else {
    const result = await generateCc6Report({
      ...job,
      timeZone: 'UTC',
      progress: (id) => {
        const now = performance.now();
        const cpu = process.cpuUsage(lastCpu);
        const step = { id, ms: now - last, cpuMs: (cpu.user + cpu.system) / 1000 };
        steps.push(step);
        say({ step });
        last = now;
        lastCpu = process.cpuUsage();
      },
    });
    // The first report also covers opening (the schema check), which stages[0] accounts for.
    if (steps[0] && result.stages[0]) steps[0].ms = Math.max(0, steps[0].ms - result.stages[0].ms);
    say({ run: { elapsedMs: result.elapsedMs, stages: result.stages, steps, files: result.files, figures: result.figures, maxRssMb: process.resourceUsage().maxRSS / 1024 } });
  }
} catch (err) {
  say({ error: (err as Error).stack ?? String(err), maxRssMb: process.resourceUsage().maxRSS / 1024 });
  process.exitCode = 1;
}
