// The derived statement tables: built as collect lands segments, run by run, they give exactly
// what the views gave when they joined the raw records on every query (legacy-views.fixtures.ts):
// when a statement's outcome or a session's end lands in a later run than its start, when a run
// lands nothing new, and when an evidence database from before the derived tables is opened.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordInput } from '../proxy/recorder/schema.js';
import { freshKey } from '../proxy/recorder/test-support.js';
import { onDerivation, type Derivation } from './derive-statements.js';
import { openEvidenceDb, type EvidenceDb } from './evidence-db.js';
import { collectSegments } from './land-segments.js';
import { LEGACY_VIEWS } from './legacy-views.fixtures.js';
import { BUNDLE_A, record, scriptedWorkload } from './segments.fixtures.js';

const key = freshKey();
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-derive-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rows(db: EvidenceDb, sql: string): Promise<string[]> {
  return ((await db.connection.runAndReadAll(sql)).getRowObjectsJson() as unknown[]).map((r) => JSON.stringify(r)).sort();
}

const ALL = `'-infinity'::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ`;
/** Each view (or macro) and its legacy definition. */
const PAIRS: [string, string][] = [
  ['SELECT * FROM statements', 'SELECT * FROM legacy_statements'],
  ['SELECT * FROM sessions', 'SELECT * FROM legacy_sessions'],
  ['SELECT * FROM statement_tables', 'SELECT * FROM legacy_statement_tables'],
  ['SELECT * FROM masking_events', 'SELECT * FROM legacy_masking_events'],
  ['SELECT * FROM detector_events', 'SELECT * FROM legacy_detector_events'],
  ['SELECT * FROM approvals', 'SELECT * FROM legacy_approvals'],
  [`SELECT * FROM unmasked_sensitive_statements_between(${ALL})`, `SELECT * FROM legacy_unmasked_sensitive_statements_between(${ALL})`],
  [`SELECT * FROM masking_attestation_between(${ALL})`, `SELECT * FROM legacy_masking_attestation_between(${ALL})`],
];

/** Every view equals its legacy definition over the same records (and is not empty). */
async function expectLegacyEqual(db: EvidenceDb): Promise<void> {
  for (const sql of LEGACY_VIEWS) await db.connection.run(sql.replace(/^CREATE OR REPLACE (VIEW|MACRO)/, 'CREATE OR REPLACE TEMP $1'));
  for (const [now, legacy] of PAIRS) {
    const got = await rows(db, now);
    expect(got, now).toEqual(await rows(db, legacy));
  }
}

/** The index after which the workload is cut: a statement lands in one run, its outcome in the next. */
function cutBeforeAnOutcome(w: RecordInput[]): number {
  const i = w.findIndex((r, j) => r.kind === 'statement_end' && w[j - 1]?.kind === 'statement' && r.masked != null);
  expect(i).toBeGreaterThan(0);
  return i;
}

async function collect(segments: string, db: EvidenceDb) {
  const r = await collectSegments({ directory: segments, db, publicKey: key.publicKey });
  expect(r.ok).toBe(true);
  return r;
}

/** The scripted workload recorded and collected into a fresh evidence database named `name`. */
async function collectedWorkload(name: string): Promise<{ path: string; db: EvidenceDb }> {
  const segs = join(dir, name);
  await record(segs, key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
  const path = join(dir, `${name}.duckdb`);
  const db = await openEvidenceDb(path);
  await collect(segs, db);
  return { path, db };
}

describe('derived statement tables', () => {
  it('a statement whose outcome lands in a later collect run is completed then; the views equal the legacy ones at each step', async () => {
    const segs = join(dir, 'split');
    const work = scriptedWorkload();
    const cut = cutBeforeAnOutcome(work);
    const pending = work[cut - 1]!;
    const db = await openEvidenceDb(join(dir, 'split.duckdb'));
    const seen: Derivation[] = [];
    const stop = onDerivation((d) => seen.push(d));
    try {
      await record(segs, key, work.slice(0, cut), { segmentMaxBytes: 8_000 });
      await collect(segs, db);
      const one = `SELECT executed, "rows", masked IS NOT NULL AS masked FROM statements WHERE session_id = '${pending.session_id}' AND statement_id = ${pending.statement_id}`;
      expect(await rows(db, one)).toEqual([JSON.stringify({ executed: 'unknown', rows: null, masked: false })]);
      await expectLegacyEqual(db);

      await record(segs, key, work.slice(cut), { segmentMaxBytes: 8_000 });
      await collect(segs, db);
      expect((await rows(db, one))[0]).toMatch(/"executed":"yes".*"masked":true/);
      expect(seen.at(-1)!.outcomesLate).toBeGreaterThanOrEqual(1);
      await expectLegacyEqual(db);

      // The same records collected in one run give the same views.
      const whole = await openEvidenceDb(join(dir, 'whole.duckdb'));
      try {
        await collect(segs, whole);
        for (const [now] of PAIRS) expect(await rows(whole, now), now).toEqual(await rows(db, now));
      } finally {
        whole.close();
      }
    } finally {
      stop();
      db.close();
    }
  });

  it('a collect run that lands nothing new derives nothing: every segment is derived once', async () => {
    const segs = join(dir, 'again');
    await record(segs, key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
    const db = await openEvidenceDb(join(dir, 'again.duckdb'));
    const seen: Derivation[] = [];
    const stop = onDerivation((d) => seen.push(d));
    try {
      const first = await collect(segs, db);
      const counts = `SELECT (SELECT count(*) FROM derived_statements) AS s, (SELECT count(*) FROM derived_statement_tables) AS t,
        (SELECT count(*) FROM derived_masking_events) AS m, (SELECT count(*) FROM derived_sessions) AS x, (SELECT count(*) FROM derived_approvals) AS a,
        (SELECT count(*) FROM derived_segments) AS d, (SELECT count(DISTINCT segment_sha256) FROM derived_segments) AS dd`;
      const before = await rows(db, counts);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.segments).toBe(first.landed.length);
      await collect(segs, db);
      expect(seen).toHaveLength(1);
      expect(await rows(db, counts)).toEqual(before);
      expect(JSON.parse(before[0]!)).toMatchObject({ d: String(first.landed.length), dd: String(first.landed.length) });
    } finally {
      stop();
      db.close();
    }
  });

  it('a read naming a sensitive table twice (with and without its schema) is one statement touching each of its columns', async () => {
    const segs = join(dir, 'twice');
    const work = scriptedWorkload();
    const last = work.at(-1)!.ts!;
    const s = { subject: 'agent:claude-code', identity_kind: 'agent', session_id: 'sess-agent-2' };
    const both = JSON.stringify([
      { schema: null, name: 'customers', access: 'read' },
      { schema: 'public', name: 'customers', access: 'read' },
    ]);
    work.push(
      { kind: 'session_start', ...s, issuer: 'https://idp.acme.test', groups: '["agents"]', database: 'shop', upstream_role: 'auditgate_reader', decision: 'allow', reasons: '[]', bundle_sha256: BUNDLE_A, detail: '{"tls":true}', ts: last + 1_000_000 },
      { kind: 'statement', ...s, statement_id: 1, sql: 'SELECT c.id FROM customers c JOIN public.customers d USING (id)', fingerprint: 'fp-twice', protocol: 'simple', statement_kind: 'select', command_tag: 'SELECT', tables: both, functions: '[]', decision: 'allow', reasons: '[]', bundle_sha256: BUNDLE_A, ts: last + 2_000_000 },
      { kind: 'statement_end', session_id: s.session_id, subject: s.subject, statement_id: 1, rows: 4, duration_us: 900, ts: last + 3_000_000 },
      { kind: 'session_end', session_id: s.session_id, subject: s.subject, duration_us: 3_000_000, detail: '{"reason":"client closed the connection","statements":1}', ts: last + 4_000_000 },
    );
    await record(segs, key, work);
    const db = await openEvidenceDb(join(dir, 'twice.duckdb'));
    try {
      await collect(segs, db);
      await expectLegacyEqual(db);
      // The agent's unmasked reads of customers: statement 5 and the new one, each counted once per column.
      const touching = await rows(db, `SELECT column_ref, statements_touching_table AS t, statements_touching_table_unmasked AS u
        FROM masking_attestation_between(${ALL}) WHERE subject = 'agent:claude-code' AND column_ref LIKE 'public.customers.%'`);
      expect(touching).toEqual(['email', 'ssn'].map((c) => JSON.stringify({ column_ref: `public.customers.${c}`, t: '4', u: '2' })));
    } finally {
      db.close();
    }
  });

  it('an evidence database derived before privilege_candidate gets it filled in when opened for writing; privileged_actions is unchanged', async () => {
    const { path, db } = await collectedWorkload('candidate');
    const privileged = `SELECT gateway_id, statement_id, categories, executed FROM privileged_actions`;
    const before = await rows(db, privileged);
    expect(before.length).toBeGreaterThan(0);
    const marked = `SELECT statement_id, privilege_candidate FROM derived_statements`;
    const candidates = await rows(db, marked);
    // What records part 2 left: no such column.
    await db.connection.run(`ALTER TABLE derived_statements DROP COLUMN privilege_candidate`);
    await db.connection.run(`UPDATE schema_parts SET version = 2 WHERE part = 'records'`);
    db.close();

    const upgraded = await openEvidenceDb(path);
    try {
      expect(await rows(upgraded, `SELECT version FROM schema_parts WHERE part = 'records'`)).toEqual([JSON.stringify({ version: 3 })]);
      expect(await rows(upgraded, marked)).toEqual(candidates);
      expect(candidates.some((r) => r.includes('true')) && candidates.some((r) => r.includes('false'))).toBe(true);
      expect(await rows(upgraded, privileged)).toEqual(before);
    } finally {
      upgraded.close();
    }
  });

  it('an evidence database from before the derived tables gets them when it is opened for writing', async () => {
    const { path, db } = await collectedWorkload('old');
    // What records part 1 left: the records, no derived tables.
    for (const t of ['derived_segments', 'derived_statements', 'derived_statement_tables', 'derived_masking_events', 'derived_sessions', 'derived_approvals']) {
      await db.connection.run(`DROP TABLE ${t}`);
    }
    await db.connection.run(`UPDATE schema_parts SET version = 1 WHERE part = 'records'`);
    db.close();

    const upgraded = await openEvidenceDb(path);
    try {
      expect(await rows(upgraded, `SELECT version FROM schema_parts WHERE part = 'records'`)).toEqual([JSON.stringify({ version: 3 })]);
      expect(await rows(upgraded, 'SELECT count(*) AS n FROM derived_segments')).toEqual(await rows(upgraded, 'SELECT count(*) AS n FROM segments'));
      await expectLegacyEqual(upgraded);
      expect((await rows(upgraded, 'SELECT * FROM statements')).length).toBeGreaterThan(0);
    } finally {
      upgraded.close();
    }
  });
});
