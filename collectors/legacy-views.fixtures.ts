// The statement views as auditgate defined them before the derived tables (collectors/schema at
// records part 1 / views part 3), under legacy_ names: the same SQL straight over the records.
// The derivation tests check the views over the derived tables give exactly what these give.
export const LEGACY_VIEWS: string[] = [
  `CREATE OR REPLACE VIEW legacy_statements AS
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
      CASE WHEN json_valid(s.tables) THEN s.tables::JSON END AS tables, CASE WHEN json_valid(s.functions) THEN s.functions::JSON END AS functions, s.params_sha256,
      s.decision, CASE WHEN json_valid(s.reasons) THEN s.reasons::JSON END AS reasons, s.bundle_sha256, s.approval_id,
      CASE WHEN s.decision NOT IN ('allow', 'approved') THEN 'no' WHEN e.end_seq IS NOT NULL THEN 'yes' ELSE 'unknown' END AS executed,
      e.end_seq, e.ended_at, e."rows", e.duration_us, CASE WHEN json_valid(e.masked) THEN e.masked::JSON END AS masked, CASE WHEN json_valid(e.detector_hits) THEN e.detector_hits::JSON END AS detector_hits, e.error_sqlstate
    FROM records s
    LEFT JOIN ends e ON e.gateway_id = s.gateway_id AND e.session_id = s.session_id AND e.statement_id = s.statement_id
    WHERE s.kind = 'statement'`,

  `CREATE OR REPLACE VIEW legacy_sessions AS
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
      e.duration_us / 1e6 AS duration_seconds, CASE WHEN json_valid(e.end_detail) THEN e.end_detail::JSON END ->> 'reason' AS end_reason,
      s.subject, s.issuer, s.identity_kind,
      from_json(CASE WHEN json_valid(s.groups) THEN s.groups::JSON END, '["VARCHAR"]') AS groups,
      CASE WHEN json_valid(s.claims) THEN s.claims::JSON END AS claims,
      CASE WHEN json_valid(s.claims) THEN s.claims::JSON END ->> 'model' AS agent_model,
      CASE WHEN json_valid(s.claims) THEN s.claims::JSON END ->> 'repository' AS repository,
      CASE WHEN json_valid(s.claims) THEN s.claims::JSON END ->> 'ticket' AS ticket,
      s.client_addr, s.application_name, s.database, s.upstream_role,
      s.decision AS connect_decision, CASE WHEN json_valid(s.reasons) THEN s.reasons::JSON END AS connect_reasons, s.error_sqlstate AS connect_sqlstate,
      TRY_CAST(CASE WHEN json_valid(s.detail) THEN s.detail::JSON END ->> 'read_only' AS BOOLEAN) AS read_only,
      TRY_CAST(CASE WHEN json_valid(s.detail) THEN s.detail::JSON END ->> 'max_session_seconds' AS BIGINT) AS max_session_seconds,
      CASE WHEN json_valid(s.detail) THEN s.detail::JSON END AS start_detail,
      s.bundle_sha256,
      coalesce(c.statements, 0) AS statements,
      coalesce(c.statements_allowed, 0) AS statements_allowed,
      coalesce(c.statements_denied, 0) AS statements_denied,
      coalesce(c.statements_held, 0) AS statements_held
    FROM records s
    LEFT JOIN ends e ON e.gateway_id = s.gateway_id AND e.session_id = s.session_id
    LEFT JOIN counts c ON c.gateway_id = s.gateway_id AND c.session_id = s.session_id
    WHERE s.kind = 'session_start'`,

  `CREATE OR REPLACE VIEW legacy_statement_tables AS
    SELECT
      s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts, s.subject, s.identity_kind, s.database, s.upstream_role,
      s.statement_kind, s.command_tag, s.decision, s.approval_id, s.executed,
      t.entry.schema AS table_schema, t.entry.name AS table_name, t.entry.access AS access
    FROM legacy_statements s,
      (SELECT unnest(from_json(s.tables, '[{"schema":"VARCHAR","name":"VARCHAR","access":"VARCHAR"}]')) AS entry) t
    WHERE s.tables IS NOT NULL`,

  `CREATE OR REPLACE VIEW legacy_masking_events AS
    WITH m AS (
      SELECT s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts, s.subject, s.identity_kind, s.database, s.upstream_role, s.decision, s.approval_id,
        CASE json_type(s.masked) WHEN 'OBJECT' THEN e.key ELSE e.value ->> 'column' END AS column_ref,
        CASE json_type(s.masked) WHEN 'OBJECT' THEN TRY_CAST(e.value AS BIGINT) ELSE TRY_CAST(e.value ->> 'count' AS BIGINT) END AS values_masked,
        CASE json_type(s.masked) WHEN 'ARRAY' THEN e.value ->> 'method' END AS method,
        CASE json_type(s.masked) WHEN 'ARRAY' THEN e.value ->> 'reason' END AS reason
      FROM legacy_statements s, json_each(s.masked) e
      WHERE s.masked IS NOT NULL AND json_type(s.masked) IN ('OBJECT', 'ARRAY')
    )
    SELECT gateway_id, session_id, statement_id, seq, ts, subject, identity_kind, database, upstream_role, decision, approval_id,
      column_ref,
      CASE WHEN len(string_split(column_ref, '.')) >= 3 THEN string_split(column_ref, '.')[1] END AS table_schema,
      string_split(column_ref, '.')[-2] AS table_name,
      string_split(column_ref, '.')[-1] AS column_name,
      values_masked, method, reason
    FROM m WHERE column_ref IS NOT NULL`,

  `CREATE OR REPLACE VIEW legacy_detector_events AS
    SELECT s.gateway_id, s.session_id, s.statement_id, s.seq, s.ts, s.subject, s.identity_kind, s.database, s.upstream_role,
      e.key AS detector, TRY_CAST(e.value AS BIGINT) AS hits
    FROM legacy_statements s, json_each(s.detector_hits) e
    WHERE s.detector_hits IS NOT NULL AND json_type(s.detector_hits) = 'OBJECT'`,

  `CREATE OR REPLACE VIEW legacy_approvals AS
    SELECT
      gateway_id, approval_id, session_id, statement_id, seq, ts,
      coalesce(CASE WHEN json_valid(detail) THEN detail::JSON END ->> 'event', CASE WHEN json_valid(detail) THEN detail::JSON END ->> 'status', decision) AS event,
      coalesce(CASE WHEN json_valid(detail) THEN detail::JSON END ->> 'by', CASE WHEN json_valid(detail) THEN detail::JSON END ->> 'approver', CASE WHEN json_valid(detail) THEN detail::JSON END ->> 'actor') AS actor,
      subject, identity_kind, database,
      CASE WHEN json_type(CASE WHEN json_valid(detail) THEN detail::JSON END -> 'approvers') = 'ARRAY' THEN from_json(CASE WHEN json_valid(detail) THEN detail::JSON END -> 'approvers', '["VARCHAR"]') END AS approvers,
      CASE WHEN json_valid(detail) THEN detail::JSON END ->> 'reason' AS reason,
      TRY_CAST(CASE WHEN json_valid(detail) THEN detail::JSON END ->> 'ttl_seconds' AS BIGINT) AS ttl_seconds,
      CASE WHEN json_valid(detail) THEN detail::JSON END AS detail
    FROM records WHERE kind = 'approval'`,

  `CREATE OR REPLACE MACRO legacy_unmasked_sensitive_statements_between(from_ts, to_ts) AS TABLE
    WITH sensitive AS (SELECT DISTINCT table_schema, table_name FROM legacy_masking_events UNION SELECT DISTINCT table_schema, table_name FROM classified_columns),
    masked_tables AS (SELECT DISTINCT gateway_id, session_id, statement_id, table_schema, table_name FROM legacy_masking_events WHERE ts >= from_ts AND ts < to_ts)
    SELECT st.gateway_id, st.session_id, st.statement_id, st.ts, st.subject, st.identity_kind, st.database, st.upstream_role,
      s.table_schema, s.table_name, st.access, st.decision, st.approval_id, q.sql, q."rows"
    FROM legacy_statement_tables st
    JOIN sensitive s ON s.table_name = st.table_name AND (st.table_schema IS NULL OR s.table_schema IS NULL OR s.table_schema = st.table_schema)
    JOIN legacy_statements q ON q.gateway_id = st.gateway_id AND q.session_id = st.session_id AND q.statement_id = st.statement_id
    WHERE st.executed = 'yes' AND st.access = 'read' AND st.ts >= from_ts AND st.ts < to_ts
      AND NOT EXISTS (
        SELECT 1 FROM masked_tables m
        WHERE m.gateway_id = st.gateway_id AND m.session_id = st.session_id AND m.statement_id = st.statement_id
          AND m.table_name = s.table_name AND m.table_schema IS NOT DISTINCT FROM s.table_schema
      )`,

  `CREATE OR REPLACE MACRO legacy_masking_attestation_between(from_ts, to_ts) AS TABLE
    WITH sensitive AS (
      SELECT DISTINCT table_schema, table_name, column_name, column_ref FROM legacy_masking_events
      UNION SELECT DISTINCT table_schema, table_name, column_name, column_ref FROM classified_columns
    ),
    masked AS (
      SELECT column_ref, subject, identity_kind,
        count(DISTINCT (gateway_id, session_id, statement_id)) AS statements_masked,
        sum(values_masked)::BIGINT AS values_masked,
        min(ts) AS first_masked_at, max(ts) AS last_masked_at,
        list(DISTINCT method ORDER BY method) FILTER (WHERE method IS NOT NULL) AS methods
      FROM legacy_masking_events WHERE ts >= from_ts AND ts < to_ts GROUP BY ALL
    ),
    touching AS (
      SELECT s.column_ref, st.subject, st.identity_kind, count(DISTINCT (st.gateway_id, st.session_id, st.statement_id)) AS statements_touching_table
      FROM sensitive s
      JOIN legacy_statement_tables st ON st.table_name = s.table_name AND (st.table_schema IS NULL OR s.table_schema IS NULL OR s.table_schema = st.table_schema)
      WHERE st.executed = 'yes' AND st.access = 'read' AND st.ts >= from_ts AND st.ts < to_ts
      GROUP BY ALL
    ),
    unmasked AS (
      SELECT s.column_ref, u.subject, u.identity_kind, count(DISTINCT (u.gateway_id, u.session_id, u.statement_id)) AS statements_unmasked
      FROM sensitive s JOIN legacy_unmasked_sensitive_statements_between(from_ts, to_ts) u ON u.table_name = s.table_name AND u.table_schema IS NOT DISTINCT FROM s.table_schema
      GROUP BY ALL
    ),
    keys AS (
      SELECT column_ref, subject, identity_kind FROM masked
      UNION SELECT column_ref, subject, identity_kind FROM touching
    )
    SELECT s.table_schema, s.table_name, s.column_name, k.column_ref, k.subject, k.identity_kind,
      coalesce(m.statements_masked, 0) AS statements_masked, coalesce(m.values_masked, 0) AS values_masked,
      m.first_masked_at, m.last_masked_at, m.methods,
      coalesce(t.statements_touching_table, 0) AS statements_touching_table,
      coalesce(u.statements_unmasked, 0) AS statements_touching_table_unmasked
    FROM keys k
    JOIN sensitive s ON s.column_ref = k.column_ref
    LEFT JOIN masked m ON m.column_ref = k.column_ref AND m.subject IS NOT DISTINCT FROM k.subject AND m.identity_kind IS NOT DISTINCT FROM k.identity_kind
    LEFT JOIN touching t ON t.column_ref = k.column_ref AND t.subject IS NOT DISTINCT FROM k.subject AND t.identity_kind IS NOT DISTINCT FROM k.identity_kind
    LEFT JOIN unmasked u ON u.column_ref = k.column_ref AND u.subject IS NOT DISTINCT FROM k.subject AND u.identity_kind IS NOT DISTINCT FROM k.identity_kind`,
];
