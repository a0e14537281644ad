// Decision latency of the default policy: analyzer + statement decision, uncached, on the
// committed bundle with the same engine the gateway uses. Goal (issue #2): p50 ≤ 20 µs.
import { analyze, loadAnalyzer } from '../proxy/analysis/index.js';
import type { StatementInput } from '../policies/contract.js';
import { PolicyEngine } from '../policies/engine/engine.js';
import { DEFAULT_BUNDLE_PATH } from '../policies/locations.js';
import { DEFAULT_SESSION, DEFAULT_TIME } from '../policies/testing/decide.js';
import { median, percentile, sample, us } from './stats.js';
import type { BenchSuite } from './suite.js';

const STATEMENTS: Record<string, string> = {
  'point select': 'SELECT id, status FROM public.orders WHERE id = $1',
  'select sensitive (masks)': 'SELECT id, email, ssn FROM public.customers WHERE id = 42',
  'join 240 chars':
    'SELECT o.id, o.total, c.name, c.email FROM public.orders o JOIN public.customers c ON c.id = o.customer_id ' +
    "LEFT JOIN public.order_items i ON i.order_id = o.id WHERE o.created_at > now() - interval '7 days' AND o.status = 'open' LIMIT 50",
  'update (approval)': "UPDATE public.orders SET status = 'shipped' WHERE id = 7",
  'delete without where (deny)': 'DELETE FROM public.orders',
  'grant (deny)': 'GRANT ALL ON public.customers TO agent',
};

const identity = {
  subject: 'agent:claude@acme',
  issuer: 'https://idp.acme.test',
  groups: ['agents', 'agent-writers'],
  kind: 'agent' as const,
  claims: { model: 'claude-sonnet-4', repository: 'acme/shop', ticket: 'OPS-1' },
};

export const decisionSuite: BenchSuite = {
  name: 'decision',
  title: 'Policy decision latency (default policy, uncached)',
  async run({ short, log }) {
    await loadAnalyzer();
    const engine = await PolicyEngine.fromFile(DEFAULT_BUNDLE_PATH);
    const connect = engine.decideConnect({ identity, session: DEFAULT_SESSION, time: DEFAULT_TIME });
    const session = { ...DEFAULT_SESSION, upstream_role: connect.upstream_role ?? undefined, read_only: connect.read_only };
    const iterations = short ? 200 : 20_000;
    const runs = short ? 1 : 5;
    const rows: string[] = [];
    const allP50: number[] = [];
    for (const [label, sql] of Object.entries(STATEMENTS)) {
      const facts = analyze(sql, { protocol: 'extended' })[0]!;
      const input: StatementInput = { identity, session, time: DEFAULT_TIME, statement: facts, approval: null };
      const outcome = engine.decideStatement(input);
      for (let i = 0; i < 500; i++) engine.decideStatement(input); // warm up
      const p50s: number[] = [];
      const p99s: number[] = [];
      const analyzeP50s: number[] = [];
      for (let r = 0; r < runs; r++) {
        const d = sample(iterations, () => engine.decideStatement(input));
        p50s.push(percentile(d, 50));
        p99s.push(percentile(d, 99));
        const a = sample(Math.min(iterations, 5000), () => analyze(sql));
        analyzeP50s.push(percentile(a, 50));
      }
      const p50 = median(p50s);
      allP50.push(p50);
      const verdict = outcome.deny.length ? 'deny' : outcome.approval.required ? 'approval' : 'allow';
      rows.push(`| ${label} | ${verdict} | ${us(p50)} | ${us(median(p99s))} | ${us(median(analyzeP50s))} | ${Math.round(1e9 / p50).toLocaleString('en-US')} |`);
      log(`${label}: decision p50 ${us(p50)} µs`);
    }
    const worst = Math.max(...allP50);
    return {
      summary: `decision p50 ${us(Math.min(...allP50))}–${us(worst)} µs (goal ≤ 20 µs): ${worst <= 20_000 ? 'met' : 'not met'}`,
      markdown: [
        `Bundle \`${DEFAULT_BUNDLE_PATH.split('/').slice(-3).join('/')}\` sha256 \`${engine.bundleSha256.slice(0, 16)}…\`; ` +
          `${runs} runs × ${iterations.toLocaleString('en-US')} decisions per statement, median of the runs' percentiles. ` +
          'Decision = `PolicyEngine.decideStatement` (JSON serialisation, wasm evaluation, result schema check). ' +
          'The analyzer (libpg-query parse + fingerprint + facts) is timed separately.',
        '',
        '| statement | outcome | decision p50 µs | decision p99 µs | analyze p50 µs | decisions/s (1 core) |',
        '| --- | --- | ---: | ---: | ---: | ---: |',
        ...rows,
        '',
        `Goal: p50 ≤ 20 µs uncached. Worst p50 here: ${us(worst)} µs — ${worst <= 20_000 ? 'met' : 'not met'}.`,
      ].join('\n'),
    };
  },
};
