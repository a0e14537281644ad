// The auditor-facing views: what the CC6 packet is made of, and what an auditor queries
// directly. They read the record views (records.ts), the policy bundles, and, when collected,
// the entitlement snapshots and the identity directory: with those tables empty the views
// still answer (standing_grant is NULL, directory columns are NULL). docs/evidence.md lists
// every column and has example queries.
import type { SchemaPart } from './part.js';
import { ADMIN_FUNCTIONS, SUPERUSER_COMMANDS } from './privilege.js';
import { STATEMENT_EXECUTED } from './records.js';

/** The newest entitlement snapshot (none: no rows). */
const LATEST_SNAPSHOT = `SELECT snapshot_id FROM entitlement_snapshots ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1`;

/** The newest directory import, one row per subject. */
const DIRECTORY_ALL = `SELECT subject, display_name, email, kind, owner, groups, status, created_at, disabled_at, import_id FROM directory_identities
  WHERE import_id = (SELECT import_id FROM directory_imports ORDER BY imported_at DESC, import_id DESC LIMIT 1)
  QUALIFY row_number() OVER (PARTITION BY subject ORDER BY line) = 1`;
const DIRECTORY = `SELECT subject, display_name, email, kind, owner, status FROM directory_identities
  WHERE import_id = (SELECT import_id FROM directory_imports ORDER BY imported_at DESC, import_id DESC LIMIT 1)
  QUALIFY row_number() OVER (PARTITION BY subject ORDER BY line) = 1`;

const list = (xs: string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;

/** The columns of the statements view (records.ts) privileged_actions reads, from derived_statements. */
const PRIVILEGE_COLUMNS = (d: string) =>
  `${d}.gateway_id, ${d}.session_id, ${d}.statement_id, ${d}.seq, ${d}.ts, ${d}.subject, ${d}.identity_kind, ${d}.database, ${d}.upstream_role,
      ${d}.statement_kind, ${d}.command_tag, ${d}.sql, ${d}.functions, ${d}.decision, ${d}.reasons, ${d}.approval_id,
      ${STATEMENT_EXECUTED(d)} AS executed, ${d}."rows", ${d}.error_sqlstate, ${d}.bundle_sha256`;

/**
 * A derived_statement_tables row of an executed read (statement_tables.executed = 'yes':
 * a NULL decision is not a refusal, as in the statements view).
 */
const EXECUTED_READ = (t: string) => `${t}.access = 'read' AND ${t}.ended AND (${t}.decision IS NULL OR ${t}.decision IN ('allow', 'approved'))`;

export const viewsSchema: SchemaPart = {
  name: 'views',
  // 4: over the derived statement tables (records part 2); unmasked_sensitive_reads_between.
  // 5: privileged_actions works out categories only for candidates; masking attestation counts without DISTINCT structs.
  // 6: masking attestation counts the statements touching a sensitive table once per table, not per column.
  // 7: privileged_actions reads derived_statements.privilege_candidate (records part 3).
  version: 7,
  statements: [
    // The identity directory as of its newest import, one row per subject (empty before any import).
    `CREATE OR REPLACE VIEW directory AS ${DIRECTORY_ALL}`,

    // Who can do what, from the newest entitlement snapshot: each login role × object × action
    // (read/write from table privileges, ddl from ownership), through role memberships that
    // inherit. Empty without a snapshot.
    `CREATE OR REPLACE VIEW effective_grants AS
    WITH RECURSIVE
    latest AS (${LATEST_SNAPSHOT}),
    roles AS (SELECT * FROM ent_roles WHERE snapshot_id = (SELECT snapshot_id FROM latest)),
    edges AS (
      SELECT m.member, m.role FROM ent_memberships m LEFT JOIN roles r ON r.name = m.member
      WHERE m.snapshot_id = (SELECT snapshot_id FROM latest) AND coalesce(m.inherit_option, r.inherit, true)
    ),
    effective(login, role) AS (
      SELECT name, name FROM roles
      UNION
      SELECT e.login, edges.role FROM effective e JOIN edges ON edges.member = e.role
    ),
    holders AS (SELECT login, role FROM effective UNION SELECT name, 'PUBLIC' FROM roles),
    objects AS (
      SELECT * FROM ent_privileges WHERE snapshot_id = (SELECT snapshot_id FROM latest)
        AND object_type IN ('table', 'view', 'materialized view', 'foreign table', 'partitioned table', 'sequence', 'column')
    ),
    via AS (SELECT h.login, h.role, CASE WHEN h.role <> h.login THEN ' via ' || h.role ELSE '' END AS suffix FROM holders h)
    SELECT v.login, p.database, p.schema_name AS table_schema, p.object_name AS table_name,
      CASE WHEN p.privilege = 'SELECT' THEN 'read' ELSE 'write' END AS action,
      p.privilege || v.suffix AS granted_by
    FROM via v JOIN objects p ON p.grantee = v.role
    WHERE p.privilege IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
    UNION
    SELECT v.login, p.database, p.schema_name, p.object_name, 'ddl', 'OWNER' || v.suffix
    FROM via v JOIN objects p ON p.object_owner = v.role`,

    // identity × upstream role × database × object × action over [from_ts, to_ts), and whether
    // a standing grant (the newest entitlement snapshot) covers it.
    `CREATE OR REPLACE MACRO access_matrix_between(from_ts, to_ts) AS TABLE
    WITH
    latest AS (${LATEST_SNAPSHOT}),
    roles AS (SELECT * FROM ent_roles WHERE snapshot_id = (SELECT snapshot_id FROM latest)),
    acc AS (
      SELECT subject, identity_kind, upstream_role, database, table_schema, table_name, access AS action,
        count(*) AS statements,
        count(*) FILTER (WHERE decision IN ('allow', 'approved')) AS allowed,
        count(*) FILTER (WHERE decision NOT IN ('allow', 'approved', 'approval_required')) AS denied,
        count(*) FILTER (WHERE decision = 'approval_required') AS held_for_approval,
        count(*) FILTER (WHERE approval_id IS NOT NULL AND decision IN ('allow', 'approved')) AS approved,
        count(*) FILTER (WHERE executed = 'yes') AS executed,
        min(ts) AS first_seen, max(ts) AS last_seen
      FROM statement_tables WHERE ts >= from_ts AND ts < to_ts GROUP BY ALL
    ),
    grants AS (
      SELECT a.subject, a.upstream_role, a.database, a.table_schema, a.table_name, a.action, list(DISTINCT g.granted_by) AS granted_by
      FROM acc a JOIN effective_grants g ON g.login = a.upstream_role AND g.database = a.database AND g.table_name = a.table_name
        AND (a.table_schema IS NULL OR g.table_schema = a.table_schema) AND g.action = a.action
      GROUP BY ALL
    ),
    dir AS (${DIRECTORY})
    SELECT
      a.subject, d.display_name, d.owner AS identity_owner, d.status AS directory_status, a.identity_kind,
      a.upstream_role, a.database, a.table_schema, a.table_name, a.action,
      a.statements, a.allowed, a.denied, a.held_for_approval, a.approved, a.executed, a.first_seen, a.last_seen,
      CASE WHEN NOT EXISTS (SELECT 1 FROM latest) THEN NULL WHEN r.superuser THEN true ELSE g.granted_by IS NOT NULL END AS standing_grant,
      CASE WHEN r.superuser THEN ['SUPERUSER'] ELSE list_sort(g.granted_by) END AS granted_by,
      (SELECT snapshot_id FROM latest) AS entitlement_snapshot
    FROM acc a
    LEFT JOIN grants g ON g.subject IS NOT DISTINCT FROM a.subject AND g.upstream_role IS NOT DISTINCT FROM a.upstream_role
      AND g.database IS NOT DISTINCT FROM a.database AND g.table_schema IS NOT DISTINCT FROM a.table_schema
      AND g.table_name IS NOT DISTINCT FROM a.table_name AND g.action IS NOT DISTINCT FROM a.action
    LEFT JOIN roles r ON r.name = a.upstream_role
    LEFT JOIN dir d ON d.subject = a.subject`,

    `CREATE OR REPLACE VIEW access_matrix AS SELECT * FROM access_matrix_between('-infinity'::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)`,

    // Granted but not used: for each identity and the upstream role its sessions used in
    // [from_ts, to_ts), every standing grant of that role it did not exercise.
    `CREATE OR REPLACE MACRO grants_unused_between(from_ts, to_ts) AS TABLE
    WITH used_roles AS (
      SELECT DISTINCT subject, identity_kind, upstream_role FROM sessions
      WHERE started_at >= from_ts AND started_at < to_ts AND connect_decision = 'allow' AND upstream_role IS NOT NULL
    ),
    used AS (SELECT DISTINCT subject, upstream_role, database, table_schema, table_name, access AS action FROM statement_tables WHERE ts >= from_ts AND ts < to_ts)
    SELECT u.subject, u.identity_kind, u.upstream_role, g.database, g.table_schema, g.table_name, g.action, list_sort(list(DISTINCT g.granted_by)) AS granted_by
    FROM used_roles u JOIN effective_grants g ON g.login = u.upstream_role
    WHERE NOT EXISTS (
      SELECT 1 FROM used x WHERE x.subject IS NOT DISTINCT FROM u.subject AND x.upstream_role = u.upstream_role AND x.database = g.database
        AND x.table_name = g.table_name AND (x.table_schema IS NULL OR x.table_schema = g.table_schema) AND x.action = g.action
    )
    GROUP BY ALL`,

    // One row per approval (and per held statement without any approval record).
    `CREATE OR REPLACE MACRO approval_trail_between(from_ts, to_ts) AS TABLE
    WITH req AS (
      SELECT approval_id,
        arg_min(gateway_id, ts) AS gateway_id, arg_min(session_id, ts) AS session_id, arg_min(statement_id, ts) AS statement_id,
        min(ts) FILTER (WHERE event = 'requested') AS requested_at,
        arg_min(subject, ts) AS requested_by,
        arg_min(approvers, ts) FILTER (WHERE approvers IS NOT NULL) AS approvers,
        arg_min(reason, ts) FILTER (WHERE event = 'requested') AS request_reason,
        -- 'granted': enough approvers approved (one 'approved' event per approver).
        arg_max(CASE event WHEN 'granted' THEN 'approved' ELSE event END, ts)
          FILTER (WHERE event IN ('granted', 'rejected', 'denied', 'expired', 'cancelled', 'withdrawn')) AS outcome,
        arg_max(actor, ts) FILTER (WHERE event IN ('approved', 'rejected', 'denied', 'cancelled')) AS decided_by,
        list(DISTINCT actor ORDER BY actor) FILTER (WHERE event = 'approved' AND actor IS NOT NULL) AS approved_by,
        max(TRY_CAST(detail ->> 'required_approvals' AS INTEGER)) AS required_approvals,
        max(ts) FILTER (WHERE event IN ('granted', 'rejected', 'denied', 'expired', 'cancelled', 'withdrawn')) AS decided_at,
        max(ts) FILTER (WHERE event = 'approved') AS last_approved_at,
        max(ts) FILTER (WHERE event = 'released') AS released_at,
        arg_min(detail ->> 'statement_hash', ts) FILTER (WHERE detail ->> 'statement_hash' IS NOT NULL) AS statement_hash,
        max(TRY_CAST(detail ->> 'expires_at' AS TIMESTAMPTZ)) AS expires_at,
        count(*) AS events
      FROM approvals WHERE approval_id IS NOT NULL GROUP BY approval_id
    ),
    held AS (
      SELECT * FROM statements WHERE decision = 'approval_required'
      QUALIFY approval_id IS NULL OR row_number() OVER (PARTITION BY approval_id ORDER BY seq) = 1
    ),
    base AS (
      SELECT r.*, h.gateway_id AS h_gateway, h.session_id AS h_session, h.statement_id AS h_statement, h.ts AS held_at,
        h.subject, h.identity_kind, h.database, h.upstream_role, h.sql, h.statement_kind, h.tables, h.reasons AS policy_reasons
      FROM req r
      FULL OUTER JOIN held h ON h.approval_id = r.approval_id
    ),
    released AS (
      SELECT approval_id, min(ts) AS executed_at, arg_min(executed, ts) AS executed, arg_min("rows", ts) AS "rows", arg_min(error_sqlstate, ts) AS error_sqlstate,
        count(*) AS executions
      FROM statements WHERE approval_id IS NOT NULL AND decision IN ('allow', 'approved') GROUP BY approval_id
    )
    SELECT
      b.approval_id,
      coalesce(b.h_gateway, b.gateway_id) AS gateway_id,
      coalesce(b.h_session, b.session_id) AS session_id,
      coalesce(b.h_statement, b.statement_id) AS statement_id,
      coalesce(b.subject, b.requested_by) AS subject, b.identity_kind, b.database, b.upstream_role,
      b.sql, b.statement_hash, b.statement_kind, b.tables, b.policy_reasons, b.approvers, b.request_reason,
      coalesce(b.requested_at, b.held_at) AS requested_at,
      CASE
        WHEN b.outcome IS NOT NULL THEN b.outcome
        -- Enough approvers approved (records without a 'granted' event say it this way).
        WHEN len(coalesce(b.approved_by, [])) >= coalesce(b.required_approvals, 1) THEN 'approved'
        WHEN b.approval_id IS NULL THEN 'no approval record'
        ELSE 'pending' END AS outcome,
      b.decided_by,
      coalesce(b.decided_at, CASE WHEN b.outcome IS NULL AND len(coalesce(b.approved_by, [])) >= coalesce(b.required_approvals, 1) THEN b.last_approved_at END) AS decided_at,
      epoch(coalesce(b.decided_at, CASE WHEN b.outcome IS NULL AND len(coalesce(b.approved_by, [])) >= coalesce(b.required_approvals, 1) THEN b.last_approved_at END))
        - epoch(coalesce(b.requested_at, b.held_at)) AS decision_seconds,
      b.approved_by, b.required_approvals,
      -- Separation of duties: the requester among the approvers, or fewer approvers than required.
      list_contains(coalesce(b.approved_by, []), coalesce(b.subject, b.requested_by)) AS self_approved,
      coalesce(b.outcome = 'approved' AND len(coalesce(b.approved_by, [])) < coalesce(b.required_approvals, 1), false) AS too_few_approvers,
      b.released_at, x.executed_at, coalesce(x.executed, 'no') AS executed, x."rows", x.error_sqlstate,
      coalesce(x.executions, 0) AS executions,
      -- Should never be true: an execution without a granted approval, or more than one.
      (x.executed_at IS NOT NULL AND coalesce(b.outcome, CASE WHEN len(coalesce(b.approved_by, [])) >= coalesce(b.required_approvals, 1) THEN 'approved' END, '') <> 'approved')
        OR coalesce(x.executions, 0) > 1 AS release_violation,
      b.expires_at,
      coalesce(b.events, 0) AS events
    FROM base b LEFT JOIN released x ON x.approval_id = b.approval_id
    WHERE coalesce(b.requested_at, b.held_at) >= from_ts AND coalesce(b.requested_at, b.held_at) < to_ts`,

    `CREATE OR REPLACE VIEW approval_trail AS SELECT * FROM approval_trail_between('-infinity'::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)`,

    // The columns the policy bundles classify as sensitive (bundle_loaded records since the
    // gateway wrote them) and the method each bundle applies.
    `CREATE OR REPLACE VIEW classified_columns AS
    SELECT DISTINCT r.bundle_sha256, lower(c.entry.column) AS column_ref,
      CASE WHEN len(string_split(c.entry.column, '.')) >= 3 THEN lower(string_split(c.entry.column, '.')[1]) END AS table_schema,
      lower(string_split(c.entry.column, '.')[-2]) AS table_name, lower(string_split(c.entry.column, '.')[-1]) AS column_name,
      c.entry.method AS method
    FROM records r, (SELECT unnest(from_json(CASE WHEN json_valid(r.detail) THEN r.detail::JSON -> 'classification' END, '[{"column":"VARCHAR","method":"VARCHAR"}]')) AS entry) c
    WHERE r.kind = 'bundle_loaded' AND c.entry.column IS NOT NULL`,

    // Executed reads of a sensitive table (a column the policies classify, or the gateway has
    // masked at least once, in any statement) in which nothing of that table was masked, without
    // the statement's text: what the counts need (unmasked_sensitive_statements_between adds it).
    // Read from derived_statement_tables: masked_schemas holds what each statement masked of
    // each table it touched ('' for a column that named no schema), so no join to masking_events.
    `CREATE OR REPLACE MACRO unmasked_sensitive_reads_between(from_ts, to_ts) AS TABLE
    WITH sensitive AS (SELECT DISTINCT table_schema, table_name FROM masking_events UNION SELECT DISTINCT table_schema, table_name FROM classified_columns)
    SELECT st.gateway_id, st.session_id, st.statement_id, st.seq, st.ts, st.subject, st.identity_kind, st.database, st.upstream_role,
      s.table_schema, s.table_name, st.access, st.decision, st.approval_id
    FROM derived_statement_tables st
    JOIN sensitive s ON s.table_name = st.table_name AND (st.table_schema IS NULL OR s.table_schema IS NULL OR s.table_schema = st.table_schema)
    WHERE ${EXECUTED_READ('st')} AND st.ts >= from_ts AND st.ts < to_ts
      AND NOT list_contains(coalesce(st.masked_schemas, []), coalesce(s.table_schema, ''))`,

    // The same, with each statement's text and rows (the statement found by its sequence number).
    `CREATE OR REPLACE MACRO unmasked_sensitive_statements_between(from_ts, to_ts) AS TABLE
    SELECT u.gateway_id, u.session_id, u.statement_id, u.ts, u.subject, u.identity_kind, u.database, u.upstream_role,
      u.table_schema, u.table_name, u.access, u.decision, u.approval_id, q.sql, q."rows"
    FROM unmasked_sensitive_reads_between(from_ts, to_ts) u
    JOIN statements q ON q.gateway_id = u.gateway_id AND q.seq = u.seq AND q.session_id = u.session_id AND q.statement_id = u.statement_id`,

    `CREATE OR REPLACE VIEW unmasked_sensitive_statements AS SELECT * FROM unmasked_sensitive_statements_between('-infinity'::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)`,

    // Per sensitive column (a column the policies classify, or the gateway has masked at least
    // once) and identity. Every executed read of a sensitive table is joined once, then counted
    // per column: touching it, and of those with nothing of the table masked.
    `CREATE OR REPLACE MACRO masking_attestation_between(from_ts, to_ts) AS TABLE
    WITH sensitive AS (
      SELECT DISTINCT table_schema, table_name, column_name, column_ref FROM masking_events
      UNION SELECT DISTINCT table_schema, table_name, column_name, column_ref FROM classified_columns
    ),
    masked AS (
      SELECT column_ref, subject, identity_kind,
        count(DISTINCT (gateway_id, session_id, statement_id)) AS statements_masked,
        sum(values_masked)::BIGINT AS values_masked,
        min(ts) AS first_masked_at, max(ts) AS last_masked_at,
        list(DISTINCT method ORDER BY method) FILTER (WHERE method IS NOT NULL) AS methods
      FROM masking_events WHERE ts >= from_ts AND ts < to_ts GROUP BY ALL
    ),
    reads AS (
      SELECT st.gateway_id, st.session_id, st.statement_id, st.subject, st.identity_kind, t.table_schema, t.table_name,
        NOT list_contains(coalesce(st.masked_schemas, []), coalesce(t.table_schema, '')) AS unmasked
      FROM derived_statement_tables st
      JOIN (SELECT DISTINCT table_schema, table_name FROM sensitive) t
        ON t.table_name = st.table_name AND (st.table_schema IS NULL OR t.table_schema IS NULL OR t.table_schema = st.table_schema)
      WHERE ${EXECUTED_READ('st')} AND st.ts >= from_ts AND st.ts < to_ts
    ),
    table_reads AS (
      -- Per sensitive table and identity: the statements reading it, and those with nothing of
      -- it masked (each statement once, however many of its rows name the table). Counted per
      -- table, not per column: a table's reads joined to each of its columns first made 2-3
      -- times the rows to group.
      SELECT table_schema, table_name, subject, identity_kind,
        count(*) AS statements_touching_table, count(*) FILTER (WHERE unmasked) AS statements_unmasked
      FROM (
        SELECT table_schema, table_name, subject, identity_kind, gateway_id, session_id, statement_id, bool_or(unmasked) AS unmasked
        FROM reads GROUP BY ALL
      )
      GROUP BY ALL
    ),
    touching AS (
      -- A column_ref names one table (its schema and table are parsed from it), so a column's
      -- counts are its table's.
      SELECT s.column_ref, t.subject, t.identity_kind, t.statements_touching_table, t.statements_unmasked
      FROM sensitive s JOIN table_reads t ON t.table_name = s.table_name AND t.table_schema IS NOT DISTINCT FROM s.table_schema
    ),
    keys AS (
      SELECT column_ref, subject, identity_kind FROM masked
      UNION SELECT column_ref, subject, identity_kind FROM touching
    )
    SELECT s.table_schema, s.table_name, s.column_name, k.column_ref, k.subject, k.identity_kind,
      coalesce(m.statements_masked, 0) AS statements_masked, coalesce(m.values_masked, 0) AS values_masked,
      m.first_masked_at, m.last_masked_at, m.methods,
      coalesce(t.statements_touching_table, 0) AS statements_touching_table,
      coalesce(t.statements_unmasked, 0) AS statements_touching_table_unmasked
    FROM keys k
    JOIN sensitive s ON s.column_ref = k.column_ref
    LEFT JOIN masked m ON m.column_ref = k.column_ref AND m.subject IS NOT DISTINCT FROM k.subject AND m.identity_kind IS NOT DISTINCT FROM k.identity_kind
    LEFT JOIN touching t ON t.column_ref = k.column_ref AND t.subject IS NOT DISTINCT FROM k.subject AND t.identity_kind IS NOT DISTINCT FROM k.identity_kind`,

    `CREATE OR REPLACE VIEW masking_attestation AS SELECT * FROM masking_attestation_between('-infinity'::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)`,

    `CREATE OR REPLACE VIEW privileged_actions AS
    WITH latest AS (${LATEST_SNAPSHOT}),
    su AS (SELECT name, superuser FROM ent_roles WHERE snapshot_id = (SELECT snapshot_id FROM latest)),
    cols AS (
      -- The statements that can have a category: those the derivation marked (privilege.ts), and
      -- every statement of a role that is a superuser in the newest snapshot. A plain boolean
      -- column is a filter DuckDB applies in the scan; the kind, tag and function test itself,
      -- applied here, made it read every statement's text (0.6-0.9 s against 0.1 s over 10M).
      SELECT ${PRIVILEGE_COLUMNS('d')} FROM derived_statements d WHERE d.privilege_candidate
      UNION ALL
      SELECT ${PRIVILEGE_COLUMNS('d')} FROM derived_statements d JOIN su ON su.name = d.upstream_role AND su.superuser
      WHERE NOT d.privilege_candidate
    ),
    s AS (
      SELECT st.*, string_split(coalesce(st.statement_kind, ''), ',') AS kinds,
        string_split(upper(coalesce(st.command_tag, '')), ',') AS tags,
        list_transform(coalesce(from_json(st.functions, '["VARCHAR"]'), []), f -> lower(string_split(f, '.')[-1])) AS fns,
        su.superuser AS role_is_superuser
      FROM cols st LEFT JOIN su ON su.name = st.upstream_role
    ),
    c AS (
      SELECT *, list_filter([
        CASE WHEN list_contains(kinds, 'ddl') THEN 'ddl' END,
        CASE WHEN list_contains(kinds, 'privilege') THEN 'privilege' END,
        CASE WHEN list_contains(kinds, 'set_role') THEN 'set_role' END,
        CASE WHEN list_contains(kinds, 'procedural') THEN 'procedural' END,
        CASE WHEN list_has_any(tags, ${list(SUPERUSER_COMMANDS)}) THEN 'superuser_command' END,
        CASE WHEN list_has_any(fns, ${list(ADMIN_FUNCTIONS)}) THEN 'admin_function' END,
        CASE WHEN role_is_superuser THEN 'superuser_role' END
      ], x -> x IS NOT NULL) AS categories
      FROM s
    )
    SELECT gateway_id, session_id, statement_id, seq, ts, categories, subject, identity_kind, database, upstream_role, role_is_superuser,
      statement_kind, command_tag, sql, functions, decision, reasons, approval_id, executed, "rows", error_sqlstate, bundle_sha256
    FROM c WHERE len(categories) > 0`,

    // Per gateway: what landed, what is missing, what failed verification.
    `CREATE OR REPLACE VIEW integrity AS
    WITH seg AS (
      SELECT *, lag(last_seq) OVER w AS prev_last_seq, lag(seal_sha256) OVER w AS prev_seal
      FROM segments WHERE status = 'landed'
      WINDOW w AS (PARTITION BY gateway_id ORDER BY first_seq, last_seq)
    ),
    per AS (
      SELECT gateway_id,
        count(*) AS segments, sum(records)::BIGINT AS records, min(first_seq) AS first_seq, max(last_seq) AS last_seq,
        count(*) FILTER (WHERE prev_last_seq IS NOT NULL AND first_seq > prev_last_seq + 1) AS gaps,
        coalesce(sum(CASE WHEN prev_last_seq IS NOT NULL AND first_seq > prev_last_seq + 1 THEN first_seq - prev_last_seq - 1 END), 0)::BIGINT AS missing_records,
        count(*) FILTER (WHERE prev_seal IS NOT NULL AND prev_seal_sha256 IS DISTINCT FROM prev_seal) AS seal_chain_breaks,
        min(first_seq) > 1 AS missing_start,
        count(*) FILTER (WHERE recovered) AS recovered_segments,
        min(landed_at) AS first_landed_at, max(landed_at) AS last_landed_at, max(sealed_at) AS last_sealed_at
      FROM seg GROUP BY gateway_id
    ),
    rec AS (SELECT gateway_id, count(*) AS records_in_table, min(ts) AS first_record_at, max(ts) AS last_record_at FROM records GROUP BY gateway_id),
    res AS (
      SELECT v.gateway_id,
        count(*) FILTER (WHERE v.severity = 'error') AS verification_errors,
        count(DISTINCT coalesce(v.segment_sha256, v.segment)) FILTER (WHERE v.severity = 'error') AS segments_failed,
        count(DISTINCT coalesce(v.segment_sha256, v.segment)) FILTER (
          WHERE v.severity = 'error' AND NOT EXISTS (SELECT 1 FROM segments l WHERE l.gateway_id = v.gateway_id AND (l.segment_sha256 = v.segment_sha256 OR l.segment = v.segment))
        ) AS segments_failed_unresolved,
        count(*) FILTER (WHERE v.severity = 'warning') AS verification_warnings,
        list(DISTINCT v.code ORDER BY v.code) FILTER (WHERE v.severity IN ('error', 'warning')) AS finding_codes,
        max(v.verified_at) AS last_verified_at
      FROM verification_results v WHERE v.gateway_id IS NOT NULL GROUP BY v.gateway_id
    ),
    gw AS (SELECT gateway_id FROM per UNION SELECT gateway_id FROM res)
    SELECT g.gateway_id,
      coalesce(p.segments, 0) AS segments, coalesce(p.records, 0) AS records, coalesce(r.records_in_table, 0) AS records_in_table,
      p.first_seq, p.last_seq, coalesce(p.gaps, 0) AS gaps, coalesce(p.missing_records, 0) AS missing_records,
      coalesce(p.seal_chain_breaks, 0) AS seal_chain_breaks, coalesce(p.missing_start, false) AS missing_start,
      coalesce(p.recovered_segments, 0) AS recovered_segments,
      coalesce(x.verification_errors, 0) AS verification_errors, coalesce(x.segments_failed, 0) AS segments_failed,
      coalesce(x.segments_failed_unresolved, 0) AS segments_failed_unresolved, coalesce(x.verification_warnings, 0) AS verification_warnings,
      coalesce(x.finding_codes, []) AS finding_codes,
      r.first_record_at, r.last_record_at, p.first_landed_at, p.last_landed_at, p.last_sealed_at, x.last_verified_at,
      CASE WHEN coalesce(p.gaps, 0) = 0 AND coalesce(p.seal_chain_breaks, 0) = 0 AND NOT coalesce(p.missing_start, false)
        AND coalesce(x.segments_failed_unresolved, 0) = 0 AND coalesce(p.records, 0) = coalesce(r.records_in_table, 0) THEN 'ok' ELSE 'attention' END AS status
    FROM gw g LEFT JOIN per p ON p.gateway_id = g.gateway_id LEFT JOIN rec r ON r.gateway_id = g.gateway_id LEFT JOIN res x ON x.gateway_id = g.gateway_id`,
  ],
};
