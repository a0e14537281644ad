// Synthetic evidence at scale: an evidence database as `auditgate collect` would leave it after
// a period of gateway traffic, filled by DuckDB itself (INSERT ... SELECT over range(), no
// per-row JavaScript). For the report benchmark and anything else that needs a big, realistic,
// internally consistent evidence DB.
//
// What it holds, per gateway: one contiguous sequence (1..n) over every record kind in time
// order (concurrent sessions interleave, as on a real gateway); sessions of ~50 statements
// (session_start, statement + statement_end, session_end); mostly allowed statements, denials
// with reasons, statements held for approval with their approval events and, once granted,
// the released statement; masking in the gateway's array form; a few privileged statements
// and superuser sessions; refused connections; TLS and provenance claims; off-hours work; two
// policy bundles over the period; landed segments with chained seals and one verification
// run; optionally a catalog snapshot and an identity directory. Record hashes are
// deterministic 32-byte values, each record's prev_hash the hash of the one before; the chain
// is not re-verified from the database, so they are not SHA-256 over the record's bytes.
//
// Deterministic for a seed (with a given DuckDB version: the values come from its hash()).
// synthetic-records.ts has the SQL, synthetic-landing.ts the segments and entitlements,
// synthetic-catalog.ts the identities and statement templates.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { deriveStatements } from '../../collectors/derive-statements.js';
import { openEvidenceDb } from '../../collectors/evidence-db.js';
import { approversOf, syntheticIdentities, type SyntheticIdentity } from './synthetic-catalog.js';
import { importDirectory, landSegments, snapshotEntitlements } from './synthetic-landing.js';
import { approvalEventsSql, DAY_US, hasher, hashPoolSql, HOUR_US, inputsSql, recordsSql, refusalsSql, sessionsSql, slotsSql } from './synthetic-records.js';

export interface SyntheticEvidenceOptions {
  /** Statement records (intents: allowed, denied, held and released ones). */
  statements: number;
  /** Length of the period in days (default 90). */
  days?: number;
  gateways?: number;
  identities?: number;
  seed?: number;
  /** First instant of the period (default 2025-01-06T00:00:00Z, a Monday). */
  start?: Date;
  /** Records per landed segment (default 100,000; fewer for small databases, so each gateway has several). */
  segmentRecords?: number;
  /** Also a catalog snapshot and an identity directory import (default true). */
  entitlements?: boolean;
  /** Told each step and how long it took. */
  log?: (message: string) => void;
}

export interface SyntheticEvidenceCounts {
  /** The period: [from, to). */
  from: Date;
  to: Date;
  gateways: string[];
  records: number;
  recordsByGateway: Record<string, number>;
  statements: number;
  statementsByDecision: { allow: number; deny: number; approval_required: number; approved: number };
  executed: { yes: number; no: number; unknown: number };
  /** Executed statements that ended with an error SQLSTATE. */
  failed: number;
  /** Accepted sessions (each with a start and an end record). */
  sessions: number;
  refusedConnections: number;
  approvals: number;
  approvalOutcomes: { approved: number; rejected: number; expired: number; withdrawn: number };
  approvalEvents: number;
  /** Rows of masking_events (one per masked column per statement) and the values they masked. */
  maskingEvents: number;
  maskedValues: number;
  /** Rows privileged_actions returns (with the catalog snapshot, statements of superuser sessions count too). */
  privilegedStatements: number;
  segments: number;
  bundles: string[];
  identities: SyntheticIdentity[];
  seconds: number;
}

const DECISIONS = ['allow', 'deny', 'approval_required', 'approved'] as const;

function positiveInt(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw new Error(`synthetic evidence: ${name} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export async function createSyntheticEvidence(path: string, opts: SyntheticEvidenceOptions): Promise<SyntheticEvidenceCounts> {
  const t0 = performance.now();
  const N = positiveInt('statements', opts.statements, 1);
  const D = positiveInt('days', opts.days ?? 90, 1);
  const G = positiveInt('gateways', opts.gateways ?? 2, 1);
  const I = positiveInt('identities', opts.identities ?? 40, 1);
  const seed = positiveInt('seed', opts.seed ?? 1, 0);
  const start = opts.start ?? new Date(Date.UTC(2025, 0, 6));
  const startUs = start.getTime() * 1000;
  if (!Number.isFinite(startUs)) throw new Error('synthetic evidence: start is not a valid date');
  if (existsSync(path)) throw new Error(`synthetic evidence: ${path} exists; give the path of a new database`);
  const endUs = startUs + D * DAY_US;

  const identities = syntheticIdentities(I);
  const approvers = approversOf(identities);
  const bundles = [sha256(`bundle-a-${seed}`), sha256(`bundle-b-${seed}`)];
  // The second bundle comes into force a little past the middle of the period, at 06:00.
  const switchUs = startUs + Math.floor(D * 0.55) * DAY_US + 6 * HOUR_US;
  const H = hasher(seed);

  const db = await openEvidenceDb(path);
  const c = db.connection;
  let lap = t0;
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const out = await fn();
    const now = performance.now();
    opts.log?.(`${what}: ${((now - lap) / 1000).toFixed(2)} s`);
    lap = now;
    return out;
  };
  try {
    await step('schema', async () => {
      await c.run(`SET TimeZone = 'UTC'`);
      for (const sql of inputsSql(identities, approvers)) await c.run(sql);
    });
    await step('sessions', () => c.run(sessionsSql(H, { N, D, G, I, startUs, startDow: start.getUTCDay() })));
    await step('statements', () => c.run(slotsSql(H)));
    await step('approvals and refusals', async () => {
      await c.run(approvalEventsSql(H, approvers.length));
      await c.run(refusalsSql(H, { D, G, I, startUs }));
      await c.run(hashPoolSql(H));
    });
    await step('records', async () => {
      for (let gateway = 0; gateway < G; gateway++) await c.run(recordsSql(H, { gateway, G, startUs, switchUs, bundles }));
    });

    const perGateway = await rows(c, `SELECT gateway_id, count(*) AS n FROM records GROUP BY ALL ORDER BY gateway_id`);
    const recordsByGateway = Object.fromEntries(perGateway.map((r) => [String(r.gateway_id), Number(r.n)]));
    const largest = Math.max(...Object.values(recordsByGateway));
    const perSegment = positiveInt('segmentRecords', opts.segmentRecords ?? Math.max(1000, Math.min(100_000, Math.ceil(largest / 8))), 1);
    await step('segments', () => landSegments(c, { seed, perSegment }));
    // What collect derives from the segments it lands (the tables the statement views read).
    await step('derive', () => deriveStatements(c));
    const withEntitlements = opts.entitlements ?? true;
    if (withEntitlements) {
      await step('entitlements', async () => {
        await snapshotEntitlements(c, { seed, endUs });
        await importDirectory(c, { seed, endUs, disabledAtUs: switchUs, identities });
      });
    }
    const counts = await tally(c, withEntitlements);
    const segments = Number((await rows(c, 'SELECT count(*) AS n FROM segments'))[0]!.n);
    for (const t of ['_ag_slot', '_ag_sess', '_ag_apev', '_ag_ref', '_ag_pool', '_ag_ident', '_ag_tmpl']) await c.run(`DROP TABLE ${t}`);
    await step('checkpoint', () => c.run('CHECKPOINT'));
    return {
      from: start,
      to: new Date(endUs / 1000),
      gateways: Object.keys(recordsByGateway),
      records: Object.values(recordsByGateway).reduce((x, y) => x + y, 0),
      recordsByGateway,
      ...counts,
      segments,
      bundles,
      identities,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    db.close();
  }
}

async function rows(c: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await c.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}

type Tally = Pick<
  SyntheticEvidenceCounts,
  | 'statements' | 'statementsByDecision' | 'executed' | 'failed' | 'sessions' | 'refusedConnections' | 'approvals'
  | 'approvalOutcomes' | 'approvalEvents' | 'maskingEvents' | 'maskedValues' | 'privilegedStatements'
>;

/** What was generated, counted from the generator's own tables (not from the views the tests check). */
async function tally(c: DuckDBConnection, withEntitlements: boolean): Promise<Tally> {
  const [st] = await rows(
    c,
    `SELECT count(*) AS statements,
      ${DECISIONS.map((d, i) => `count(*) FILTER (WHERE dec = ${i}) AS "${d}"`).join(', ')},
      count(*) FILTER (WHERE executed) AS yes, count(*) FILTER (WHERE dec IN (1, 2)) AS no,
      count(*) FILTER (WHERE dec IN (0, 3) AND NOT executed) AS unknown,
      count(*) FILTER (WHERE err IS NOT NULL) AS failed,
      coalesce(sum(masked_columns) FILTER (WHERE masks AND "rows" > 0), 0) AS masking_events,
      coalesce(sum(masked_columns * "rows") FILTER (WHERE masks AND "rows" > 0), 0) AS masked_values,
      count(*) FILTER (WHERE privileged ${withEntitlements ? "OR upstream_role = 'auditgate_superuser'" : ''}) AS privileged
    FROM _ag_slot`,
  );
  const [se] = await rows(c, `SELECT count(*) AS sessions, (SELECT count(*) FROM _ag_ref) AS refused, (SELECT count(*) FROM _ag_apev) AS events FROM _ag_sess`);
  const outcomes = await rows(c, `SELECT outcome, count(*) AS n FROM _ag_sess WHERE has_appr GROUP BY ALL`);
  const o = Object.fromEntries(outcomes.map((r) => [String(r.outcome), Number(r.n)]));
  const n = (v: unknown) => Number(v ?? 0);
  return {
    statements: n(st!.statements),
    statementsByDecision: { allow: n(st!.allow), deny: n(st!.deny), approval_required: n(st!.approval_required), approved: n(st!.approved) },
    executed: { yes: n(st!.yes), no: n(st!.no), unknown: n(st!.unknown) },
    failed: n(st!.failed),
    sessions: n(se!.sessions),
    refusedConnections: n(se!.refused),
    approvals: outcomes.reduce((s, r) => s + Number(r.n), 0),
    approvalOutcomes: { approved: o.approved ?? 0, rejected: o.rejected ?? 0, expired: o.expired ?? 0, withdrawn: o.withdrawn ?? 0 },
    approvalEvents: n(se!.events),
    maskingEvents: n(st!.masking_events),
    maskedValues: n(st!.masked_values),
    privilegedStatements: n(st!.privileged),
  };
}
