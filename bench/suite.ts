export interface BenchContext {
  /** A quick pass that checks the harness works (CI), not figures to publish. */
  short: boolean;
  log: (message: string) => void;
}

export interface BenchResult {
  /** One line for the table of contents of BENCHMARKS.md. */
  summary: string;
  markdown: string;
}

export interface BenchSuite {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}
