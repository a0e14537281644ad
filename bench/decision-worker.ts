// One decision measurement in its own isolate: V8's JIT state from other engines or inputs
// (megamorphic calls into the SDK) would otherwise inflate figures by up to 1.5×.
import { parentPort, workerData } from 'node:worker_threads';
import { analyze, loadAnalyzer } from '../proxy/analysis/index.js';
import type { Identity, StatementInput } from '../policies/contract.js';
import { PolicyEngine } from '../policies/engine/engine.js';
import { DEFAULT_SESSION, DEFAULT_TIME } from '../policies/testing/decide.js';
import { DecisionCache, sessionContextKey } from '../proxy/session/decision-cache.js';
import { decideSql, type GateContext, type Verdict } from '../proxy/session/statement-gate.js';
import { percentile, sample } from './stats.js';

export interface DecisionJob {
  bundle: string;
  sql: string;
  identity: Identity;
  iterations: number;
  runs: number;
  /** Also time the gateway's gate on this statement as a simple Query with its constants varied. */
  shape?: boolean;
}

export interface DecisionMeasurement {
  outcome: 'allow' | 'deny' | 'approval';
  decideP50: number[];
  decideP99: number[];
  analyzeP50: number[];
  /** decideSql through the decision cache, constants varied: p50 per run (empty when not asked). */
  shapeP50: number[];
  /** Whether those decisions came from the cache by shape (false: the statement does not qualify). */
  shapeHits: boolean;
}

const job = workerData as DecisionJob;
await loadAnalyzer();
const engine = await PolicyEngine.fromFile(job.bundle);
const connect = engine.decideConnect({ identity: job.identity, session: DEFAULT_SESSION, time: DEFAULT_TIME });
const session = { ...DEFAULT_SESSION, upstream_role: connect.upstream_role ?? undefined, read_only: connect.read_only };
const input: StatementInput = {
  identity: job.identity,
  session,
  time: DEFAULT_TIME,
  statement: analyze(job.sql, { protocol: 'extended' })[0]!,
  approval: null,
};
const first = engine.decideStatement(input);
for (let i = 0; i < 2000; i++) engine.decideStatement(input);
for (let i = 0; i < 500; i++) analyze(job.sql);
const result: DecisionMeasurement = {
  outcome: first.deny.length ? 'deny' : first.approval.required ? 'approval' : 'allow',
  decideP50: [],
  decideP99: [],
  analyzeP50: [],
  shapeP50: [],
  shapeHits: false,
};
// Decisions first, then the analyzer: interleaving the two wasm modules changes both figures.
for (let r = 0; r < job.runs; r++) {
  const d = sample(job.iterations, () => engine.decideStatement(input));
  result.decideP50.push(percentile(d, 50));
  result.decideP99.push(percentile(d, 99));
}
for (let r = 0; r < job.runs; r++) {
  result.analyzeP50.push(percentile(sample(Math.min(job.iterations, 5000), () => analyze(job.sql)), 50));
}
if (job.shape && /\b(42|7)\b/.test(job.sql)) {
  // The gateway's path for a simple Query: exact-text cache miss, shape lookup (libpg-query
  // normalize), and on a miss the analysis and the decision. Every call has new constants.
  const ctx: GateContext = { engine, identity: job.identity, session, cache: new DecisionCache<Verdict>(10_000), contextKey: sessionContextKey(job.identity, session) };
  let n = 0;
  const next = () => job.sql.replace(/\b42\b|\b7\b/, String(1000 + (n++ % 1_000_000)));
  const opts = { protocol: 'simple' as const, inTransaction: false };
  for (let i = 0; i < 2000; i++) decideSql(ctx, next(), opts);
  const hitsBefore = ctx.cache!.hits;
  for (let r = 0; r < job.runs; r++) result.shapeP50.push(percentile(sample(job.iterations, () => decideSql(ctx, next(), opts)), 50));
  result.shapeHits = ctx.cache!.hits - hitsBefore >= job.runs * job.iterations;
}
parentPort!.postMessage(result);
