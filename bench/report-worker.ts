// One `report cc6` run in its own process, so its peak resident memory is the report's alone
// (the benchmark process has just generated the evidence in DuckDB). Writes one JSON line per
// progress report ({"step"}) as it goes, so a failed run still shows where its time went, then
// {"run"} or {"error"}.
import { generateCc6Report } from '../reports/cc6/generate.js';

export interface ReportJob {
  db: string;
  from: string;
  to: string;
  out: string;
  signingKey: string;
}

export interface ReportStep {
  id: string;
  /** Time from the previous progress report to this one: the query's (or step's) wall time. */
  ms: number;
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

export type WorkerLine = { step: ReportStep } | { run: ReportRun } | { error: string; maxRssMb: number };

const say = (line: WorkerLine) => process.stdout.write(`${JSON.stringify(line)}\n`);
const job = JSON.parse(process.argv[2] ?? '') as ReportJob;
const steps: ReportStep[] = [];
let last = performance.now();
try {
  const result = await generateCc6Report({
    ...job,
    timeZone: 'UTC',
    progress: (id) => {
      const now = performance.now();
      const step = { id, ms: now - last };
      steps.push(step);
      say({ step });
      last = now;
    },
  });
  // The first report also covers opening (schema check, hashing the database file), which stages[0] accounts for.
  if (steps[0] && result.stages[0]) steps[0].ms = Math.max(0, steps[0].ms - result.stages[0].ms);
  say({ run: { elapsedMs: result.elapsedMs, stages: result.stages, steps, files: result.files, figures: result.figures, maxRssMb: process.resourceUsage().maxRSS / 1024 } });
} catch (err) {
  say({ error: (err as Error).stack ?? String(err), maxRssMb: process.resourceUsage().maxRSS / 1024 });
  process.exitCode = 1;
}
