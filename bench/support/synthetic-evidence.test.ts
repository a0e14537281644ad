// The synthetic evidence generator, pinned by the evidence views: what the auditor views say
// about a generated database must be what the generator says it generated, and the records
// must be as the gateway and the collector leave them (contiguous sequences in time order, a
// linked chain, segments that integrity accepts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvidenceDb, type EvidenceDb } from '../../collectors/evidence-db.js';
import { createSyntheticEvidence, type SyntheticEvidenceCounts } from './synthetic-evidence.js';

let dir: string;
let counts: SyntheticEvidenceCounts;
let db: EvidenceDb;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-synthetic-'));
  counts = await createSyntheticEvidence(join(dir, 'evidence.duckdb'), { statements: 5000, seed: 7 });
  db = await openEvidenceDb(join(dir, 'evidence.duckdb'), { readOnly: true });
});
afterAll(async () => {
  db?.close();
  await rm(dir, { recursive: true, force: true });
});

async function all(sql: string, on: EvidenceDb = db): Promise<Record<string, unknown>[]> {
  const norm = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : Array.isArray(v) ? v.map(norm) : v);
  return (await on.connection.runAndReadAll(sql)).getRowObjectsJS().map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, norm(v)])));
}
const one = async (sql: string, on?: EvidenceDb) => (await all(sql, on))[0]!;
const byKey = (rows: Record<string, unknown>[], key: string, value = 'n') => Object.fromEntries(rows.map((r) => [String(r[key]), r[value]]));

describe('synthetic evidence', () => {
  it('has what was asked for: 5000 statements in a 90-day period on 2 gateways, a mix of decisions', () => {
    expect(counts.statements).toBe(5000);
    expect(counts.gateways).toEqual(['gw-1', 'gw-2']);
    expect(counts.to.getTime() - counts.from.getTime()).toBe(90 * 86_400_000);
    const d = counts.statementsByDecision;
    expect(d.allow + d.deny + d.approval_required + d.approved).toBe(5000);
    expect(d.allow).toBeGreaterThan(0.8 * 5000); // mostly allowed
    expect(d.deny).toBeGreaterThan(0);
    expect(d.approval_required).toBeGreaterThan(0);
    expect(counts.approvalOutcomes).toMatchObject({ approved: expect.any(Number), rejected: expect.any(Number), expired: expect.any(Number), withdrawn: expect.any(Number) });
    for (const n of Object.values(counts.approvalOutcomes)) expect(n).toBeGreaterThan(0);
    expect(counts.maskedValues).toBeGreaterThan(0);
    expect(counts.refusedConnections).toBeGreaterThan(0);
  });

  it('statements: decisions and execution as generated; every outcome follows its intent', async () => {
    expect(byKey(await all(`SELECT decision, count(*) AS n FROM statements GROUP BY ALL`), 'decision')).toEqual(
      Object.fromEntries(Object.entries(counts.statementsByDecision).filter(([, n]) => n > 0)),
    );
    expect(byKey(await all(`SELECT executed, count(*) AS n FROM statements GROUP BY ALL`), 'executed')).toEqual(
      Object.fromEntries(Object.entries(counts.executed).filter(([, n]) => n > 0)),
    );
    expect(await one(`SELECT count(*) FILTER (WHERE error_sqlstate IS NOT NULL) AS failed, count(*) FILTER (WHERE executed = 'yes' AND (end_seq <= seq OR ended_at < ts)) AS misordered FROM statements`)).toEqual({
      failed: counts.failed,
      misordered: 0,
    });
    // Denied statements carry their reasons; held ones the approval they wait for.
    expect(await one(`SELECT count(*) FILTER (WHERE decision = 'deny' AND json_array_length(reasons) = 0) AS deny_without_reason,
      count(*) FILTER (WHERE decision IN ('approval_required', 'approved') AND approval_id IS NULL) AS held_without_approval FROM statements`)).toEqual({ deny_without_reason: 0, held_without_approval: 0 });
  });

  it('sessions: accepted ones start and end with their statements; refused ones carry the SQLSTATE the client got', async () => {
    expect(byKey(await all(`SELECT connect_decision, count(*) AS n FROM sessions GROUP BY ALL`), 'connect_decision')).toEqual({ allow: counts.sessions, deny: counts.refusedConnections });
    expect(await one(`SELECT sum(statements) AS statements, count(*) FILTER (WHERE ended_at IS NULL OR ended_at < started_at) AS unended FROM sessions WHERE connect_decision = 'allow'`)).toEqual({
      statements: 5000,
      unended: 0,
    });
    const s = await one(`SELECT count(*) FILTER (WHERE (start_detail ->> 'tls')::BOOLEAN) AS tls, count(*) AS n,
      count(*) FILTER (WHERE identity_kind = 'agent') AS agents, count(*) FILTER (WHERE identity_kind = 'agent' AND agent_model IS NOT NULL AND repository IS NOT NULL AND ticket IS NOT NULL) AS agents_with_claims
      FROM sessions WHERE connect_decision = 'allow'`);
    expect(s.tls).toBeGreaterThan(0.9 * Number(s.n));
    expect(s.agents_with_claims).toBe(s.agents);
    expect(await all(`SELECT DISTINCT connect_sqlstate, start_detail ->> 'tls' AS tls FROM sessions WHERE connect_decision = 'deny' ORDER BY 1`)).toEqual(
      counts.refusedConnections > 1 ? [{ connect_sqlstate: '28000', tls: 'true' }, { connect_sqlstate: '28P01', tls: 'false' }] : [{ connect_sqlstate: '28P01', tls: 'false' }],
    );
  });

  it('sessions happen mostly in business hours on weekdays, some off hours', async () => {
    const h = await one(`SELECT count(*) AS n,
      count(*) FILTER (WHERE hour(started_at) BETWEEN 8 AND 17 AND dayofweek(started_at) BETWEEN 1 AND 5) AS business,
      count(*) FILTER (WHERE dayofweek(started_at) IN (0, 6)) AS weekend
      FROM sessions WHERE connect_decision = 'allow'`);
    expect(Number(h.business)).toBeGreaterThan(0.6 * Number(h.n));
    expect(Number(h.n) - Number(h.business)).toBeGreaterThan(0);
    expect(h.weekend).toBeGreaterThan(0);
  });

  it('approval_trail: each approval with its generated outcome, no separation-of-duties or release violations, granted ones executed once', async () => {
    expect(byKey(await all(`SELECT outcome, count(*) AS n FROM approval_trail GROUP BY ALL`), 'outcome')).toEqual(counts.approvalOutcomes);
    expect(await one(`SELECT count(*) FILTER (WHERE self_approved OR too_few_approvers OR release_violation) AS violations,
      count(*) FILTER (WHERE outcome = 'approved' AND (executions <> 1 OR executed_at < decided_at OR decided_by IS NULL)) AS bad_releases,
      count(*) FILTER (WHERE outcome <> 'approved' AND executions > 0) AS ran_unapproved,
      count(*) FILTER (WHERE decision_seconds <= 0) AS instant,
      sum(events) AS events
      FROM approval_trail`)).toEqual({ violations: 0, bad_releases: 0, ran_unapproved: 0, instant: 0, events: counts.approvalEvents });
    expect(await one(`SELECT count(*) AS n FROM approval_trail WHERE required_approvals = 2 AND outcome = 'approved' AND len(approved_by) = 2`)).toMatchObject({ n: expect.any(Number) });
  });

  it('masking_events and masking_attestation: the masked values generated, in the gateway array form with method and reason', async () => {
    expect(await one(`SELECT count(*) AS events, sum(values_masked) AS values_masked, count(*) FILTER (WHERE method IS NULL OR reason IS NULL) AS bare FROM masking_events`)).toEqual({
      events: counts.maskingEvents,
      values_masked: counts.maskedValues,
      bare: 0,
    });
    expect((await all(`SELECT DISTINCT column_ref FROM masking_attestation ORDER BY 1`)).map((r) => r.column_ref)).toEqual([
      'public.customers.email',
      'public.customers.phone',
      'public.customers.ssn',
      'public.payments.card_number',
    ]);
    expect(await one(`SELECT sum(values_masked) AS v FROM masking_attestation`)).toEqual({ v: counts.maskedValues });
    expect(await one(`SELECT count(*) > 0 AS some FROM unmasked_sensitive_statements`)).toEqual({ some: true });
  });

  it('records: per gateway a sequence 1..n in time order with a linked hash chain; integrity ok, no gaps', async () => {
    expect(byKey(await all(`SELECT gateway_id, count(*) AS n FROM records GROUP BY ALL`), 'gateway_id')).toEqual(counts.recordsByGateway);
    expect(
      await all(`SELECT gateway_id, count(*) AS n, min(seq) AS first, max(seq) AS last, count(DISTINCT seq) AS distinct_seq FROM records GROUP BY ALL ORDER BY 1`),
    ).toEqual(counts.gateways.map((g) => ({ gateway_id: g, n: counts.recordsByGateway[g], first: 1, last: counts.recordsByGateway[g], distinct_seq: counts.recordsByGateway[g] })));
    expect(await one(`SELECT count(*) FILTER (WHERE prev_hash <> before) AS breaks, count(*) FILTER (WHERE ts < prev_ts) AS back_in_time,
      count(*) FILTER (WHERE octet_length(hash) <> 32 OR octet_length(prev_hash) <> 32) AS bad_length
      FROM (SELECT prev_hash, hash, ts, lag(hash) OVER w AS before, lag(ts) OVER w AS prev_ts FROM records WINDOW w AS (PARTITION BY gateway_id ORDER BY seq))`)).toEqual({
      breaks: 0,
      back_in_time: 0,
      bad_length: 0,
    });
    // Stored in (gateway, seq) order, as collect lands segments.
    expect(await one(`SELECT count(*) FILTER (WHERE gateway_id IS DISTINCT FROM pg OR seq <> ps + 1) AS breaks
      FROM (SELECT gateway_id, seq, lag(gateway_id) OVER (ORDER BY rowid) AS pg, lag(seq) OVER (ORDER BY rowid) AS ps FROM records)`)).toEqual({ breaks: counts.gateways.length });
    expect(await all(`SELECT gateway_id, status, gaps, missing_records, seal_chain_breaks, missing_start, records, records_in_table FROM integrity ORDER BY 1`)).toEqual(
      counts.gateways.map((g) => ({ gateway_id: g, status: 'ok', gaps: 0, missing_records: 0, seal_chain_breaks: 0, missing_start: false, records: counts.recordsByGateway[g], records_in_table: counts.recordsByGateway[g] })),
    );
    expect(await one(`SELECT count(*) AS segments, bool_and(status = 'landed') AS landed FROM segments`)).toEqual({ segments: counts.segments, landed: true });
    expect(counts.segments).toBeGreaterThan(2 * counts.gateways.length); // several per gateway, so gaps would show
    expect(await all(`SELECT status, segments_landed, records_landed FROM verification_runs`)).toEqual([{ status: 'ok', segments_landed: counts.segments, records_landed: counts.records }]);
  });

  it('policy_bundles: the two bundles, each loaded with its manifest, gateway build and classification, deciding statements', async () => {
    expect(await all(`SELECT bundle_sha256, manifest_known, revision, loads, statements_decided > 0 AS decided FROM policy_bundles ORDER BY first_seen`)).toEqual([
      { bundle_sha256: counts.bundles[0], manifest_known: true, revision: 'rev-41', loads: 2, decided: true },
      { bundle_sha256: counts.bundles[1], manifest_known: true, revision: 'rev-42', loads: 2, decided: true },
    ]);
    expect(await all(`SELECT bundle_sha256, count(*) AS n FROM classified_columns GROUP BY ALL ORDER BY 1`)).toEqual(counts.bundles.map((b) => ({ bundle_sha256: b, n: 4 })).sort((x, y) => x.bundle_sha256.localeCompare(y.bundle_sha256)));
    expect(await one(`SELECT count(DISTINCT detail::JSON -> 'gateway' ->> 'code_sha256') AS builds FROM records WHERE kind = 'bundle_loaded'`)).toEqual({ builds: 2 });
  });

  it('privileged_actions and access_matrix: privileged statements and superuser sessions; standing grants, used without one, directory names', async () => {
    expect(await one(`SELECT count(*) AS n FROM privileged_actions`)).toEqual({ n: counts.privilegedStatements });
    expect((await all(`SELECT DISTINCT unnest(categories) AS c FROM privileged_actions ORDER BY 1`)).map((r) => r.c)).toEqual(
      expect.arrayContaining(['admin_function', 'ddl', 'privilege', 'superuser_command']),
    );
    const m = await one(`SELECT count(*) AS rows, count(*) FILTER (WHERE standing_grant) AS granted,
      count(*) FILTER (WHERE NOT standing_grant AND allowed > 0) AS used_without_grant,
      count(*) FILTER (WHERE NOT standing_grant AND allowed = 0 AND denied > 0) AS denied_without_grant,
      count(*) FILTER (WHERE standing_grant IS NULL) AS unknown,
      count(*) FILTER (WHERE display_name IS NOT NULL) AS named, count(*) FILTER (WHERE directory_status = 'disabled') AS disabled,
      count(*) FILTER (WHERE directory_status IS NULL) AS not_in_directory
      FROM access_matrix`);
    expect(m.unknown).toBe(0);
    for (const k of ['granted', 'used_without_grant', 'denied_without_grant', 'named', 'disabled', 'not_in_directory']) expect(m[k], k).toBeGreaterThan(0);
    expect(await all(`SELECT DISTINCT table_name FROM access_matrix WHERE NOT standing_grant AND allowed > 0 AND action = 'write'`)).toEqual([{ table_name: 'carts' }]);
  });
});

describe('createSyntheticEvidence', () => {
  it('is deterministic for a seed, and another seed gives other evidence', async () => {
    const digest = async (name: string, seed: number) => {
      const path = join(dir, name);
      await createSyntheticEvidence(path, { statements: 400, seed, days: 7 });
      const other = await openEvidenceDb(path, { readOnly: true });
      try {
        return (await one(`SELECT md5(string_agg(r::VARCHAR, '|' ORDER BY gateway_id, seq)) AS d, count(*) AS n FROM records r`, other)) as { d: string; n: number };
      } finally {
        other.close();
      }
    };
    const a = await digest('a.duckdb', 3);
    expect(await digest('b.duckdb', 3)).toEqual(a);
    expect((await digest('c.duckdb', 4)).d).not.toBe(a.d);
  });

  it('refuses an existing database and nonsense options', async () => {
    await expect(createSyntheticEvidence(join(dir, 'evidence.duckdb'), { statements: 10 })).rejects.toThrow(/exists/);
    await expect(createSyntheticEvidence(join(dir, 'x.duckdb'), { statements: 0 })).rejects.toThrow(/statements must be an integer ≥ 1/);
    await expect(createSyntheticEvidence(join(dir, 'y.duckdb'), { statements: 10, days: 1.5 })).rejects.toThrow(/days/);
  });
});
