// The derived tables behind the record views: each statement with its outcome
// (derived_statements), the tables it touched (derived_statement_tables), the columns masked in
// its result (derived_masking_events), each session with its end and statement counts
// (derived_sessions), the approval records (derived_approvals); the records' JSON parsed once.
// Reports and auditors then read flat tables instead of re-joining and re-parsing millions of
// records on every query (docs/evidence.md).
//
// Incremental: a call derives the records of the landed segments not in derived_segments yet,
// in one transaction. collect calls it at the end of each run; opening the database for writing
// calls it too, for a database landed by an older auditgate or a run that stopped before it.
// An outcome follows its statement in the gateway's sequence, and a session's statements and
// end follow its start, but they may land in a later run: the rows derived before are updated.
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlLiteral } from './query.js';
import { privilegeCandidate } from './schema/privilege.js';

export interface Derivation {
  segments: number;
  statements: number;
  /** Statements derived earlier whose outcome arrived in these segments. */
  outcomesLate: number;
  seconds: number;
}

const listeners = new Set<(d: Derivation) => void>();
/** Told about every derivation that did some work (benchmarks measure its cost this way). */
export function onDerivation(listener: (d: Derivation) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const json = (col: string) => `CASE WHEN json_valid(${col}) THEN ${col}::JSON END`;

/** The records' columns a statement intent and an outcome contribute. */
const INTENT_COLUMNS = `gateway_id, session_id, statement_id, seq, ts, subject, issuer, identity_kind, client_addr, application_name, database, upstream_role,
  sql, fingerprint, protocol, statement_kind, command_tag, tables, functions, params_sha256, decision, reasons, bundle_sha256, approval_id`;
const END_COLUMNS = `gateway_id, session_id, statement_id, seq, ts, "rows", duration_us, masked, detector_hits, error_sqlstate`;

interface Range {
  gatewayId: string;
  from: number;
  to: number;
}

/** Derives the records of every landed segment not derived yet, in one transaction. */
export async function deriveStatements(c: DuckDBConnection): Promise<Derivation> {
  const t0 = performance.now();
  const pending = (
    await c.runAndReadAll(`SELECT s.gateway_id, s.segment_sha256, s.first_seq, s.last_seq FROM segments s
      WHERE s.status = 'landed' AND NOT EXISTS (SELECT 1 FROM derived_segments d WHERE d.gateway_id = s.gateway_id AND d.segment_sha256 = s.segment_sha256)
      ORDER BY s.gateway_id, s.first_seq`)
  ).getRowObjects();
  const none: Derivation = { segments: 0, statements: 0, outcomesLate: 0, seconds: 0 };
  if (!pending.length) return none;

  // Contiguous sequence ranges per gateway: each becomes a scan with constant bounds, which
  // DuckDB answers from its row-group min/max without reading the rest of the records.
  const ranges: Range[] = [];
  for (const p of pending) {
    if (p.first_seq === null || p.last_seq === null) continue;
    const g = String(p.gateway_id);
    const from = Number(p.first_seq);
    const to = Number(p.last_seq);
    const last = ranges.at(-1);
    if (last && last.gatewayId === g && last.to + 1 >= from) last.to = Math.max(last.to, to);
    else ranges.push({ gatewayId: g, from, to });
  }
  const firstSeq = new Map<string, number>();
  for (const r of ranges) firstSeq.set(r.gatewayId, Math.min(firstSeq.get(r.gatewayId) ?? r.from, r.from));

  await c.run('BEGIN TRANSACTION');
  try {
    const result = ranges.length ? await derive(c, ranges, firstSeq) : { statements: 0, outcomesLate: 0 };
    const marks = pending.map((p) => `(${sqlLiteral(String(p.gateway_id))}, ${sqlLiteral(String(p.segment_sha256))}, now())`);
    await c.run(`INSERT INTO derived_segments VALUES ${marks.join(', ')}`);
    await c.run('COMMIT');
    const d: Derivation = { segments: pending.length, ...result, seconds: (performance.now() - t0) / 1000 };
    for (const l of listeners) l(d);
    return d;
  } catch (err) {
    await c.run('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    for (const t of ['_dv_ends', '_dv_changed', '_dv_session_ends']) await c.run(`DROP TABLE IF EXISTS ${t}`).catch(() => {});
  }
}

/** Records of `kind` from each gateway's first pending record on. */
const fromFirst = (firstSeq: Map<string, number>, kind: string, cols: string) =>
  [...firstSeq].map(([g, seq]) => `SELECT ${cols} FROM records WHERE gateway_id = ${sqlLiteral(g)} AND seq >= ${seq} AND kind = '${kind}'`).join('\nUNION ALL\n');

async function derive(c: DuckDBConnection, ranges: Range[], firstSeq: Map<string, number>): Promise<{ statements: number; outcomesLate: number }> {
  const scan = (kind: string, cols: string, r: Range) => `SELECT ${cols} FROM records WHERE gateway_id = ${sqlLiteral(r.gatewayId)} AND seq BETWEEN ${r.from} AND ${r.to} AND kind = '${kind}'`;
  // The first outcome of each statement among the records from the first pending one on
  // (normally exactly the pending records; more when an older segment landed late).

  await c.run(`CREATE OR REPLACE TEMP TABLE _dv_ends AS
    SELECT gateway_id, session_id, statement_id, min(seq) AS end_seq, arg_min(ts, seq) AS ended_at, arg_min("rows", seq) AS "rows",
      arg_min(duration_us, seq) AS duration_us, ${json('arg_min(masked, seq)')} AS masked, ${json('arg_min(detector_hits, seq)')} AS detector_hits,
      arg_min(error_sqlstate, seq) AS error_sqlstate
    FROM (${fromFirst(firstSeq, 'statement_end', END_COLUMNS)})
    WHERE session_id IS NOT NULL AND statement_id IS NOT NULL
    GROUP BY gateway_id, session_id, statement_id`);

  // Statements derived before whose (first) outcome is among these records.
  await c.run(`CREATE OR REPLACE TEMP TABLE _dv_changed AS
    SELECT d.rowid AS rid, d.end_seq AS old_end_seq, d.gateway_id, d.session_id, d.statement_id, d.seq,
      e.end_seq, e.ended_at, e."rows", e.duration_us, e.masked, e.detector_hits, e.error_sqlstate
    FROM derived_statements d
    JOIN _dv_ends e ON e.gateway_id = d.gateway_id AND e.session_id = d.session_id AND e.statement_id = d.statement_id
    WHERE d.end_seq IS NULL OR e.end_seq < d.end_seq`);
  const changed = Number((await c.runAndReadAll('SELECT count(*) FROM _dv_changed')).getRows()[0]![0]);
  if (changed > 0) {
    await c.run(`UPDATE derived_statements SET end_seq = c.end_seq, ended_at = c.ended_at, "rows" = c."rows", duration_us = c.duration_us,
        masked = c.masked, detector_hits = c.detector_hits, error_sqlstate = c.error_sqlstate
      FROM _dv_changed c WHERE derived_statements.rowid = c.rid`);
    await c.run(`DELETE FROM derived_masking_events m USING _dv_changed c
      WHERE c.old_end_seq IS NOT NULL AND m.gateway_id = c.gateway_id AND m.seq = c.seq AND m.session_id = c.session_id AND m.statement_id = c.statement_id`);
    await c.run(`INSERT INTO derived_masking_events ${maskingEventsOf(`(SELECT d.gateway_id, d.session_id, d.statement_id, d.seq, d.ts, d.subject, d.identity_kind, d.database,
        d.upstream_role, d.decision, d.approval_id, c.end_seq, c.masked
      FROM _dv_changed c JOIN derived_statements d ON d.rowid = c.rid WHERE c.masked IS NOT NULL)`)}`);
    // seq is a join key too: DuckDB then skips the row groups outside the changed statements' range.
    const isChanged = (t: string) => `${t}.gateway_id = c.gateway_id AND ${t}.seq = c.seq AND ${t}.session_id = c.session_id AND ${t}.statement_id = c.statement_id`;
    await c.run(`UPDATE derived_statement_tables SET ended = true, masked_schemas = NULL FROM _dv_changed c WHERE ${isChanged('derived_statement_tables')}`);
    await c.run(`UPDATE derived_statement_tables SET masked_schemas = m.masked_schemas
      FROM (${maskedSchemasOf(`SELECT m.gateway_id, m.session_id, m.statement_id, m.table_schema, m.table_name FROM derived_masking_events m JOIN _dv_changed c ON ${isChanged('m')}`)}) m
      WHERE derived_statement_tables.gateway_id = m.gateway_id AND derived_statement_tables.session_id = m.session_id
        AND derived_statement_tables.statement_id = m.statement_id AND derived_statement_tables.table_name = m.table_name
        AND derived_statement_tables.seq IN (SELECT seq FROM _dv_changed)`);
  }

  // The new statements, straight from the records into the table (no intermediate copy, and no
  // sort: a packet lists them in the table's own order, reports/cc6/queries/populations.ts).
  const intents = ranges.map((r) => scan('statement', INTENT_COLUMNS, r)).join('\nUNION ALL\n');
  const inserted = await c.run(`INSERT INTO derived_statements
    SELECT s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts,
      s.subject, s.issuer, s.identity_kind, s.client_addr, s.application_name, s.database, s.upstream_role,
      s.sql, s.fingerprint, s.protocol, s.statement_kind, s.command_tag,
      ${json('s.tables')} AS tables, ${json('s.functions')} AS functions, s.params_sha256,
      s.decision, ${json('s.reasons')} AS reasons, s.bundle_sha256, s.approval_id,
      e.end_seq, e.ended_at, e."rows", e.duration_us, e.masked, e.detector_hits, e.error_sqlstate,
      ${privilegeCandidate('s.statement_kind', 's.command_tag', json('s.functions'))} AS privilege_candidate
    FROM (${intents}) s
    LEFT JOIN _dv_ends e ON e.gateway_id = s.gateway_id AND e.session_id = s.session_id AND e.statement_id = s.statement_id`);

  // Their masked columns and tables, from the rows just derived (their sequence ranges).
  const inRanges = (table: string, cols: string) => ranges.map((r) => `SELECT ${cols} FROM ${table} WHERE gateway_id = ${sqlLiteral(r.gatewayId)} AND seq BETWEEN ${r.from} AND ${r.to}`).join('\nUNION ALL\n');
  const derived = (cols: string) => inRanges('derived_statements', cols);
  await c.run(`INSERT INTO derived_masking_events ${maskingEventsOf(`(${derived('gateway_id, session_id, statement_id, seq, ts, subject, identity_kind, database, upstream_role, decision, approval_id, end_seq, masked')})`)}`);
  await c.run(`INSERT INTO derived_statement_tables
    WITH st AS (
      SELECT s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts, s.subject, s.identity_kind, s.database, s.upstream_role,
        s.statement_kind, s.command_tag, s.decision, s.approval_id, s.end_seq IS NOT NULL AS ended,
        t.entry.schema AS table_schema, t.entry.name AS table_name, t.entry.access AS access
      FROM (${derived('gateway_id, session_id, statement_id, seq, ts, subject, identity_kind, database, upstream_role, statement_kind, command_tag, decision, approval_id, end_seq, tables')}) s,
        (SELECT unnest(from_json(s.tables, '[{"schema":"VARCHAR","name":"VARCHAR","access":"VARCHAR"}]')) AS entry) t
      WHERE s.tables IS NOT NULL
    )
    SELECT st.*, m.masked_schemas FROM st
    LEFT JOIN (${maskedSchemasOf(inRanges('derived_masking_events', 'gateway_id, session_id, statement_id, table_schema, table_name'))}) m
      ON m.gateway_id = st.gateway_id AND m.session_id = st.session_id AND m.statement_id = st.statement_id AND m.table_name = st.table_name`);

  await deriveSessions(c, ranges, firstSeq, scan, derived);
  await c.run(`INSERT INTO derived_approvals
    SELECT gateway_id, approval_id, session_id, statement_id, seq, ts,
      coalesce(${json('detail')} ->> 'event', ${json('detail')} ->> 'status', decision) AS event,
      coalesce(${json('detail')} ->> 'by', ${json('detail')} ->> 'approver', ${json('detail')} ->> 'actor') AS actor,
      subject, identity_kind, database,
      CASE WHEN json_type(${json('detail')} -> 'approvers') = 'ARRAY' THEN from_json(${json('detail')} -> 'approvers', '["VARCHAR"]') END AS approvers,
      ${json('detail')} ->> 'reason' AS reason,
      TRY_CAST(${json('detail')} ->> 'ttl_seconds' AS BIGINT) AS ttl_seconds,
      ${json('detail')} AS detail
    FROM (${ranges.map((r) => scan('approval', 'gateway_id, approval_id, session_id, statement_id, seq, ts, decision, subject, identity_kind, database, detail', r)).join('\nUNION ALL\n')})
    ORDER BY gateway_id, seq`);
  return { statements: Number(inserted.rowsChanged), outcomesLate: changed };
}

/** A session's statement counts by decision, as columns `<prefix>statements`, `<prefix>statements_allowed`, ... */
const countsAs = (prefix: string) => `count(*) AS ${prefix}statements,
  count(*) FILTER (WHERE decision IN ('allow', 'approved')) AS ${prefix}statements_allowed,
  count(*) FILTER (WHERE decision NOT IN ('allow', 'approved', 'approval_required')) AS ${prefix}statements_denied,
  count(*) FILTER (WHERE decision = 'approval_required') AS ${prefix}statements_held`;

/**
 * Sessions: each start with its first end and its statement counts. Ends and statements that
 * land after their start update the session; a session's statements follow its start.
 * Runs after the statements of the same ranges are derived.
 */
async function deriveSessions(
  c: DuckDBConnection,
  ranges: Range[],
  firstSeq: Map<string, number>,
  scan: (kind: string, cols: string, r: Range) => string,
  derived: (cols: string) => string,
): Promise<void> {
  await c.run(`CREATE OR REPLACE TEMP TABLE _dv_session_ends AS
    SELECT gateway_id, session_id, min(seq) AS first_end_seq, min(ts) AS first_ended_at, arg_min(duration_us, seq) AS first_duration_us,
      ${json('arg_min(detail, seq)')} ->> 'reason' AS first_end_reason
    FROM (${fromFirst(firstSeq, 'session_end', 'gateway_id, session_id, seq, ts, duration_us, detail')}) WHERE session_id IS NOT NULL GROUP BY gateway_id, session_id`);
  // Sessions derived before: an earlier end, or more statements. (SET sees the row's old values.)
  await c.run(`UPDATE derived_sessions SET
      ended_at = CASE WHEN ended_at IS NULL OR first_ended_at < ended_at THEN first_ended_at ELSE ended_at END,
      end_duration_us = CASE WHEN end_seq IS NULL OR first_end_seq < end_seq THEN first_duration_us ELSE end_duration_us END,
      end_reason = CASE WHEN end_seq IS NULL OR first_end_seq < end_seq THEN first_end_reason ELSE end_reason END,
      end_seq = CASE WHEN end_seq IS NULL OR first_end_seq < end_seq THEN first_end_seq ELSE end_seq END
    FROM _dv_session_ends e
    WHERE derived_sessions.gateway_id = e.gateway_id AND derived_sessions.session_id = e.session_id
      AND (end_seq IS NULL OR first_end_seq < end_seq OR first_ended_at < ended_at)`);
  // (The new counts are prefixed: UPDATE ... FROM refuses column names both sides have.)
  await c.run(`UPDATE derived_sessions SET statements = statements + n_statements, statements_allowed = statements_allowed + n_statements_allowed,
      statements_denied = statements_denied + n_statements_denied, statements_held = statements_held + n_statements_held
    FROM (SELECT gateway_id, session_id, ${countsAs('n_')}
      FROM (${derived('gateway_id, session_id, decision')}) GROUP BY gateway_id, session_id) n
    WHERE derived_sessions.gateway_id = n.gateway_id AND derived_sessions.session_id = n.session_id`);

  const starts = ranges
    .map((r) => scan('session_start', 'gateway_id, session_id, seq, ts, subject, issuer, identity_kind, "groups", claims, client_addr, application_name, database, upstream_role, decision, reasons, error_sqlstate, detail, bundle_sha256', r))
    .join('\nUNION ALL\n');
  const laterStatements = [...firstSeq].map(([g, seq]) => `SELECT gateway_id, session_id, decision FROM derived_statements WHERE gateway_id = ${sqlLiteral(g)} AND seq >= ${seq}`).join('\nUNION ALL\n');
  await c.run(`INSERT INTO derived_sessions
    SELECT s.gateway_id, s.session_id, s.seq, s.ts, e.first_end_seq, e.first_ended_at, e.first_duration_us, e.first_end_reason,
      s.subject, s.issuer, s.identity_kind,
      from_json(${json('s."groups"')}, '["VARCHAR"]'),
      ${json('s.claims')}, ${json('s.claims')} ->> 'model', ${json('s.claims')} ->> 'repository', ${json('s.claims')} ->> 'ticket',
      s.client_addr, s.application_name, s.database, s.upstream_role,
      s.decision, ${json('s.reasons')}, s.error_sqlstate,
      TRY_CAST(${json('s.detail')} ->> 'read_only' AS BOOLEAN), TRY_CAST(${json('s.detail')} ->> 'max_session_seconds' AS BIGINT), ${json('s.detail')},
      s.bundle_sha256,
      coalesce(n.statements, 0), coalesce(n.statements_allowed, 0), coalesce(n.statements_denied, 0), coalesce(n.statements_held, 0)
    FROM (${starts}) s
    LEFT JOIN _dv_session_ends e ON e.gateway_id = s.gateway_id AND e.session_id = s.session_id
    LEFT JOIN (SELECT gateway_id, session_id, ${countsAs('')} FROM (${laterStatements}) GROUP BY gateway_id, session_id) n
      ON n.gateway_id = s.gateway_id AND n.session_id = s.session_id
    ORDER BY s.gateway_id, s.seq`);
}

/** Per statement and table name, the schemas of its masked columns' tables ('' for none named): derived_statement_tables.masked_schemas. */
const maskedSchemasOf = (events: string) => `SELECT gateway_id, session_id, statement_id, table_name, list(DISTINCT coalesce(table_schema, '') ORDER BY coalesce(table_schema, '')) AS masked_schemas
  FROM (${events}) WHERE table_name IS NOT NULL GROUP BY ALL`;

/**
 * One row per masked column of each statement of `source` (which has the statement's keys,
 * identity, decision, end_seq and masked). masked: {"schema.table.column": count} (the record
 * schema's form) or [{"column", "method", "reason", "count"}] (what the session recorder writes).
 */
function maskingEventsOf(source: string): string {
  return `WITH m AS (
      SELECT s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts, s.subject, s.identity_kind, s.database, s.upstream_role, s.decision, s.approval_id, s.end_seq,
        CASE json_type(s.masked) WHEN 'OBJECT' THEN e.key ELSE e.value ->> 'column' END AS column_ref,
        CASE json_type(s.masked) WHEN 'OBJECT' THEN TRY_CAST(e.value AS BIGINT) ELSE TRY_CAST(e.value ->> 'count' AS BIGINT) END AS values_masked,
        CASE json_type(s.masked) WHEN 'ARRAY' THEN e.value ->> 'method' END AS method,
        CASE json_type(s.masked) WHEN 'ARRAY' THEN e.value ->> 'reason' END AS reason
      FROM ${source} s, json_each(s.masked) e
      WHERE s.masked IS NOT NULL AND json_type(s.masked) IN ('OBJECT', 'ARRAY')
    )
    SELECT gateway_id, session_id, statement_id, seq, ts, subject, identity_kind, database, upstream_role, decision, approval_id, end_seq,
      column_ref,
      CASE WHEN len(string_split(column_ref, '.')) >= 3 THEN string_split(column_ref, '.')[1] END AS table_schema,
      string_split(column_ref, '.')[-2] AS table_name,
      string_split(column_ref, '.')[-1] AS column_name,
      values_masked, method, reason
    FROM m WHERE column_ref IS NOT NULL`;
}
