// The recorded evidence: every record the gateways wrote (`records`, raw, one row per record),
// the segments they came in (`segments`: what was landed, once), what each collect run
// verified (`verification_runs`, `verification_results`), and views that read the records the
// way auditors ask about them: sessions, statements (intent joined with outcome), the tables
// each statement touched, masking and detector events, approval events. The JSON columns are
// expanded here, in SQL, with DuckDB's json functions; nothing is copied at landing time, so
// landing stays one INSERT per segment. docs/evidence.md lists every column.
import { COLUMNS } from '../../proxy/recorder/schema.js';
import type { SchemaPart } from './part.js';

const sqlType = (t: (typeof COLUMNS)[number][1]): string => (t === 'int64' ? 'BIGINT' : t === 'timestamp' ? 'TIMESTAMPTZ' : t === 'hash' ? 'BLOB' : 'VARCHAR');
const NOT_NULL = new Set(['seq', 'kind', 'ts', 'gateway_id', 'prev_hash', 'hash']);

/** The records table: the record schema's columns in its order (hashes as 32-byte BLOBs). */
export const RECORDS_DDL = `CREATE TABLE IF NOT EXISTS records (${COLUMNS.map(([name, type]) => `"${name}" ${sqlType(type)}${NOT_NULL.has(name) ? ' NOT NULL' : ''}`).join(', ')})`;

/** A JSON column as JSON, or NULL when it holds no valid JSON (a view never fails on one bad value). */
const json = (col: string) => `CASE WHEN json_valid(${col}) THEN ${col}::JSON END`;

export const recordsSchema: SchemaPart = {
  name: 'records',
  version: 1,
  statements: [
    RECORDS_DDL,
    // One row per landed segment. A segment lands once: (gateway_id, segment_sha256) is its key,
    // and the collector refuses a segment whose sequence range overlaps one already landed.
    `CREATE TABLE IF NOT EXISTS segments (
      gateway_id VARCHAR NOT NULL,
      segment VARCHAR NOT NULL,
      segment_sha256 VARCHAR NOT NULL,
      segment_bytes BIGINT NOT NULL,
      first_seq BIGINT,
      last_seq BIGINT,
      records BIGINT NOT NULL,
      first_prev_hash VARCHAR,
      last_hash VARCHAR,
      seal_sha256 VARCHAR NOT NULL,
      prev_seal_sha256 VARCHAR,
      key_id VARCHAR NOT NULL,
      opened_at TIMESTAMPTZ,
      sealed_at TIMESTAMPTZ,
      recovered BOOLEAN NOT NULL,
      run_id VARCHAR NOT NULL,
      landed_at TIMESTAMPTZ NOT NULL,
      status VARCHAR NOT NULL,
      PRIMARY KEY (gateway_id, segment_sha256)
    )`,
    `CREATE TABLE IF NOT EXISTS verification_runs (
      run_id VARCHAR PRIMARY KEY,
      started_at TIMESTAMPTZ NOT NULL,
      finished_at TIMESTAMPTZ,
      directory VARCHAR NOT NULL,
      key_id VARCHAR NOT NULL,
      auditgate_version VARCHAR,
      status VARCHAR NOT NULL,
      segments_seen INTEGER,
      segments_landed INTEGER,
      segments_already_landed INTEGER,
      segments_rejected INTEGER,
      segments_open INTEGER,
      records_landed BIGINT,
      errors INTEGER
    )`,
    `CREATE TABLE IF NOT EXISTS verification_results (
      run_id VARCHAR NOT NULL,
      verified_at TIMESTAMPTZ NOT NULL,
      gateway_id VARCHAR,
      segment VARCHAR,
      segment_sha256 VARCHAR,
      first_seq BIGINT,
      last_seq BIGINT,
      code VARCHAR NOT NULL,
      severity VARCHAR NOT NULL,
      message VARCHAR NOT NULL
    )`,

    // --- views over the records -------------------------------------------------------------
    `CREATE OR REPLACE VIEW statements AS
    WITH ends AS (
      SELECT gateway_id, session_id, statement_id, seq AS end_seq, ts AS ended_at, "rows", duration_us, masked, detector_hits, error_sqlstate
      FROM records
      WHERE kind = 'statement_end'
      QUALIFY row_number() OVER (PARTITION BY gateway_id, session_id, statement_id ORDER BY seq) = 1
    )
    SELECT
      s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts,
      s.subject, s.issuer, s.identity_kind, s.client_addr, s.application_name, s.database, s.upstream_role,
      s.sql, s.fingerprint, s.protocol, s.statement_kind, s.command_tag,
      ${json('s.tables')} AS tables, ${json('s.functions')} AS functions, s.params_sha256,
      s.decision, ${json('s.reasons')} AS reasons, s.bundle_sha256, s.approval_id,
      CASE WHEN s.decision NOT IN ('allow', 'approved') THEN 'no' WHEN e.end_seq IS NOT NULL THEN 'yes' ELSE 'unknown' END AS executed,
      e.end_seq, e.ended_at, e."rows", e.duration_us, ${json('e.masked')} AS masked, ${json('e.detector_hits')} AS detector_hits, e.error_sqlstate
    FROM records s
    LEFT JOIN ends e ON e.gateway_id = s.gateway_id AND e.session_id = s.session_id AND e.statement_id = s.statement_id
    WHERE s.kind = 'statement'`,

    `CREATE OR REPLACE VIEW sessions AS
    WITH ends AS (
      SELECT gateway_id, session_id, min(ts) AS ended_at, arg_min(detail, seq) AS end_detail, arg_min(duration_us, seq) AS duration_us
      FROM records WHERE kind = 'session_end' AND session_id IS NOT NULL GROUP BY ALL
    ), counts AS (
      SELECT gateway_id, session_id,
        count(*) AS statements,
        count(*) FILTER (WHERE decision IN ('allow', 'approved')) AS statements_allowed,
        count(*) FILTER (WHERE decision NOT IN ('allow', 'approved', 'approval_required')) AS statements_denied,
        count(*) FILTER (WHERE decision = 'approval_required') AS statements_held
      FROM records WHERE kind = 'statement' GROUP BY ALL
    )
    SELECT
      s.gateway_id, s.session_id, s.seq AS start_seq, s.ts AS started_at, e.ended_at,
      e.duration_us / 1e6 AS duration_seconds, ${json('e.end_detail')} ->> 'reason' AS end_reason,
      s.subject, s.issuer, s.identity_kind,
      from_json(${json('s.groups')}, '["VARCHAR"]') AS groups,
      ${json('s.claims')} AS claims,
      ${json('s.claims')} ->> 'model' AS agent_model,
      ${json('s.claims')} ->> 'repository' AS repository,
      ${json('s.claims')} ->> 'ticket' AS ticket,
      s.client_addr, s.application_name, s.database, s.upstream_role,
      s.decision AS connect_decision, ${json('s.reasons')} AS connect_reasons, s.error_sqlstate AS connect_sqlstate,
      TRY_CAST(${json('s.detail')} ->> 'read_only' AS BOOLEAN) AS read_only,
      TRY_CAST(${json('s.detail')} ->> 'max_session_seconds' AS BIGINT) AS max_session_seconds,
      ${json('s.detail')} AS start_detail,
      s.bundle_sha256,
      coalesce(c.statements, 0) AS statements,
      coalesce(c.statements_allowed, 0) AS statements_allowed,
      coalesce(c.statements_denied, 0) AS statements_denied,
      coalesce(c.statements_held, 0) AS statements_held
    FROM records s
    LEFT JOIN ends e ON e.gateway_id = s.gateway_id AND e.session_id = s.session_id
    LEFT JOIN counts c ON c.gateway_id = s.gateway_id AND c.session_id = s.session_id
    WHERE s.kind = 'session_start'`,

    `CREATE OR REPLACE VIEW statement_tables AS
    SELECT
      s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts, s.subject, s.identity_kind, s.database, s.upstream_role,
      s.statement_kind, s.command_tag, s.decision, s.approval_id, s.executed,
      t.entry.schema AS table_schema, t.entry.name AS table_name, t.entry.access AS access
    FROM statements s,
      (SELECT unnest(from_json(s.tables, '[{"schema":"VARCHAR","name":"VARCHAR","access":"VARCHAR"}]')) AS entry) t
    WHERE s.tables IS NOT NULL`,

    // masked: {"schema.table.column": count} (the record schema's form) or
    // [{"column", "method", "reason", "count"}] (what the gateway's session recorder writes).
    `CREATE OR REPLACE VIEW masking_events AS
    WITH m AS (
      SELECT s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts, s.subject, s.identity_kind, s.database, s.upstream_role, s.decision, s.approval_id,
        CASE json_type(s.masked) WHEN 'OBJECT' THEN e.key ELSE e.value ->> 'column' END AS column_ref,
        CASE json_type(s.masked) WHEN 'OBJECT' THEN TRY_CAST(e.value AS BIGINT) ELSE TRY_CAST(e.value ->> 'count' AS BIGINT) END AS values_masked,
        CASE json_type(s.masked) WHEN 'ARRAY' THEN e.value ->> 'method' END AS method,
        CASE json_type(s.masked) WHEN 'ARRAY' THEN e.value ->> 'reason' END AS reason
      FROM statements s, json_each(s.masked) e
      WHERE s.masked IS NOT NULL AND json_type(s.masked) IN ('OBJECT', 'ARRAY')
    )
    SELECT gateway_id, session_id, statement_id, seq, ts, subject, identity_kind, database, upstream_role, decision, approval_id,
      column_ref,
      CASE WHEN len(string_split(column_ref, '.')) >= 3 THEN string_split(column_ref, '.')[1] END AS table_schema,
      string_split(column_ref, '.')[-2] AS table_name,
      string_split(column_ref, '.')[-1] AS column_name,
      values_masked, method, reason
    FROM m WHERE column_ref IS NOT NULL`,

    `CREATE OR REPLACE VIEW detector_events AS
    SELECT s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts, s.subject, s.identity_kind, s.database, s.upstream_role,
      e.key AS detector, TRY_CAST(e.value AS BIGINT) AS hits
    FROM statements s, json_each(s.detector_hits) e
    WHERE s.detector_hits IS NOT NULL AND json_type(s.detector_hits) = 'OBJECT'`,

    // Approval events. The gateway's approval record: approval_id, session_id, statement_id,
    // the requester's identity, and detail {event, by, approvers, reason, ttl_seconds}.
    `CREATE OR REPLACE VIEW approvals AS
    SELECT
      gateway_id, approval_id, session_id, statement_id, seq, ts,
      coalesce(${json('detail')} ->> 'event', ${json('detail')} ->> 'status', decision) AS event,
      coalesce(${json('detail')} ->> 'by', ${json('detail')} ->> 'approver', ${json('detail')} ->> 'actor') AS actor,
      subject, identity_kind, database,
      CASE WHEN json_type(${json('detail')} -> 'approvers') = 'ARRAY' THEN from_json(${json('detail')} -> 'approvers', '["VARCHAR"]') END AS approvers,
      ${json('detail')} ->> 'reason' AS reason,
      TRY_CAST(${json('detail')} ->> 'ttl_seconds' AS BIGINT) AS ttl_seconds,
      ${json('detail')} AS detail
    FROM records WHERE kind = 'approval'`,
  ],
};
