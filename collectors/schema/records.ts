// The recorded evidence: every record the gateways wrote (`records`, raw, one row per record),
// the segments they came in (`segments`: what was landed, once), what each collect run
// verified (`verification_runs`, `verification_results`), and views that read the records the
// way auditors ask about them: sessions, statements (intent joined with outcome), the tables
// each statement touched, masking and detector events, approval events. Landing stays one
// INSERT per segment; then collect derives, from the records it landed, one row per statement
// with its outcome, per table it touched and per masked column (derived_* tables, JSON parsed
// once; collectors/derive-statements.ts), and the statement views read those. docs/evidence.md
// lists every column.
import { COLUMNS } from '../../proxy/recorder/schema.js';
import type { SchemaPart } from './part.js';
import { privilegeCandidate } from './privilege.js';

const sqlType = (t: (typeof COLUMNS)[number][1]): string => (t === 'int64' ? 'BIGINT' : t === 'timestamp' ? 'TIMESTAMPTZ' : t === 'hash' ? 'BLOB' : 'VARCHAR');
const NOT_NULL = new Set(['seq', 'kind', 'ts', 'gateway_id', 'prev_hash', 'hash']);

/** The records table: the record schema's columns in its order (hashes as 32-byte BLOBs). */
export const RECORDS_DDL = `CREATE TABLE IF NOT EXISTS records (${COLUMNS.map(([name, type]) => `"${name}" ${sqlType(type)}${NOT_NULL.has(name) ? ' NOT NULL' : ''}`).join(', ')})`;


/** The statements view's `executed`: no (refused or held), yes (its outcome landed), unknown. */
export const STATEMENT_EXECUTED = (t: string) =>
  `CASE WHEN ${t}.decision NOT IN ('allow', 'approved') THEN 'no' WHEN ${t}.end_seq IS NOT NULL THEN 'yes' ELSE 'unknown' END`;

const STATEMENT_INTENT = `gateway_id, session_id, statement_id, seq, ts, subject, issuer, identity_kind, client_addr, application_name, database, upstream_role,
      sql, fingerprint, protocol, statement_kind, command_tag, tables, functions, params_sha256, decision, reasons, bundle_sha256, approval_id`;

export const recordsSchema: SchemaPart = {
  name: 'records',
  // 2: the statement views read the derived_* tables.
  // 3: derived_statements.privilege_candidate.
  version: 3,
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

    // --- derived from the records of landed segments (collectors/derive-statements.ts) -----
    // Which landed segments the derived tables hold.
    `CREATE TABLE IF NOT EXISTS derived_segments (
      gateway_id VARCHAR NOT NULL,
      segment_sha256 VARCHAR NOT NULL,
      derived_at TIMESTAMPTZ NOT NULL
    )`,
    // One row per statement record, with its first outcome (NULL until it lands).
    `CREATE TABLE IF NOT EXISTS derived_statements (
      gateway_id VARCHAR NOT NULL, session_id VARCHAR, statement_id BIGINT, seq BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL,
      subject VARCHAR, issuer VARCHAR, identity_kind VARCHAR, client_addr VARCHAR, application_name VARCHAR, database VARCHAR, upstream_role VARCHAR,
      sql VARCHAR, fingerprint VARCHAR, protocol VARCHAR, statement_kind VARCHAR, command_tag VARCHAR,
      tables JSON, functions JSON, params_sha256 VARCHAR, decision VARCHAR, reasons JSON, bundle_sha256 VARCHAR, approval_id VARCHAR,
      end_seq BIGINT, ended_at TIMESTAMPTZ, "rows" BIGINT, duration_us BIGINT, masked JSON, detector_hits JSON, error_sqlstate VARCHAR,
      privilege_candidate BOOLEAN
    )`,
    // privilege_candidate (records part 3): whether the statement can be a privileged action
    // whatever its role (schema/privilege.ts), marked once when derived; added and filled in for
    // a database derived before it.
    `ALTER TABLE derived_statements ADD COLUMN IF NOT EXISTS privilege_candidate BOOLEAN`,
    `UPDATE derived_statements SET privilege_candidate = ${privilegeCandidate('statement_kind', 'command_tag', 'functions')} WHERE privilege_candidate IS NULL`,
    // One row per table a statement touched; ended: its outcome has landed; masked_schemas: the
    // schemas ('' when the column named none) of the columns of a table of this name that the
    // statement masked (NULL: none), what unmasked_sensitive_reads_between checks.
    `CREATE TABLE IF NOT EXISTS derived_statement_tables (
      gateway_id VARCHAR NOT NULL, session_id VARCHAR, statement_id BIGINT, seq BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL,
      subject VARCHAR, identity_kind VARCHAR, database VARCHAR, upstream_role VARCHAR,
      statement_kind VARCHAR, command_tag VARCHAR, decision VARCHAR, approval_id VARCHAR, ended BOOLEAN NOT NULL,
      table_schema VARCHAR, table_name VARCHAR, access VARCHAR, masked_schemas VARCHAR[]
    )`,
    // One row per masked column per statement (from its outcome's masked).
    `CREATE TABLE IF NOT EXISTS derived_masking_events (
      gateway_id VARCHAR NOT NULL, session_id VARCHAR, statement_id BIGINT, seq BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL,
      subject VARCHAR, identity_kind VARCHAR, database VARCHAR, upstream_role VARCHAR, decision VARCHAR, approval_id VARCHAR, end_seq BIGINT NOT NULL,
      column_ref VARCHAR, table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR, values_masked BIGINT, method VARCHAR, reason VARCHAR
    )`,

    // One row per session start, with its first end and its statement counts (updated as they land).
    `CREATE TABLE IF NOT EXISTS derived_sessions (
      gateway_id VARCHAR NOT NULL, session_id VARCHAR, start_seq BIGINT NOT NULL, started_at TIMESTAMPTZ NOT NULL,
      end_seq BIGINT, ended_at TIMESTAMPTZ, end_duration_us BIGINT, end_reason VARCHAR,
      subject VARCHAR, issuer VARCHAR, identity_kind VARCHAR, "groups" VARCHAR[], claims JSON, agent_model VARCHAR, repository VARCHAR, ticket VARCHAR,
      client_addr VARCHAR, application_name VARCHAR, database VARCHAR, upstream_role VARCHAR,
      connect_decision VARCHAR, connect_reasons JSON, connect_sqlstate VARCHAR, read_only BOOLEAN, max_session_seconds BIGINT, start_detail JSON,
      bundle_sha256 VARCHAR,
      statements BIGINT NOT NULL, statements_allowed BIGINT NOT NULL, statements_denied BIGINT NOT NULL, statements_held BIGINT NOT NULL
    )`,
    // One row per approval record, its detail parsed.
    `CREATE TABLE IF NOT EXISTS derived_approvals (
      gateway_id VARCHAR NOT NULL, approval_id VARCHAR, session_id VARCHAR, statement_id BIGINT, seq BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL,
      event VARCHAR, actor VARCHAR, subject VARCHAR, identity_kind VARCHAR, database VARCHAR, approvers VARCHAR[], reason VARCHAR,
      ttl_seconds BIGINT, detail JSON
    )`,

    // --- views over the records -------------------------------------------------------------
    `CREATE OR REPLACE VIEW statements AS
    SELECT ${STATEMENT_INTENT},
      ${STATEMENT_EXECUTED('derived_statements')} AS executed,
      end_seq, ended_at, "rows", duration_us, masked, detector_hits, error_sqlstate
    FROM derived_statements`,

    `CREATE OR REPLACE VIEW sessions AS
    SELECT gateway_id, session_id, start_seq, started_at, ended_at, end_duration_us / 1e6 AS duration_seconds, end_reason,
      subject, issuer, identity_kind, "groups", claims, agent_model, repository, ticket,
      client_addr, application_name, database, upstream_role,
      connect_decision, connect_reasons, connect_sqlstate, read_only, max_session_seconds, start_detail,
      bundle_sha256, statements, statements_allowed, statements_denied, statements_held
    FROM derived_sessions`,

    `CREATE OR REPLACE VIEW statement_tables AS
    SELECT gateway_id, session_id, statement_id, seq, ts, subject, identity_kind, database, upstream_role,
      statement_kind, command_tag, decision, approval_id,
      CASE WHEN decision NOT IN ('allow', 'approved') THEN 'no' WHEN ended THEN 'yes' ELSE 'unknown' END AS executed,
      table_schema, table_name, access
    FROM derived_statement_tables`,

    `CREATE OR REPLACE VIEW masking_events AS
    SELECT gateway_id, session_id, statement_id, seq, ts, subject, identity_kind, database, upstream_role, decision, approval_id,
      column_ref, table_schema, table_name, column_name, values_masked, method, reason
    FROM derived_masking_events`,

    `CREATE OR REPLACE VIEW detector_events AS
    SELECT s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts, s.subject, s.identity_kind, s.database, s.upstream_role,
      e.key AS detector, TRY_CAST(e.value AS BIGINT) AS hits
    FROM statements s, json_each(s.detector_hits) e
    WHERE s.detector_hits IS NOT NULL AND json_type(s.detector_hits) = 'OBJECT'`,

    // Approval events (derived_approvals: the gateway's approval records, detail parsed).
    `CREATE OR REPLACE VIEW approvals AS
    SELECT gateway_id, approval_id, session_id, statement_id, seq, ts, event, actor, subject, identity_kind, database, approvers, reason, ttl_seconds, detail
    FROM derived_approvals`,
  ],
};
