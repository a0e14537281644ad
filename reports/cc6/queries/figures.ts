// figures/: the numbers and chart series index.html shows. Every figure on the page is a cell
// of one of these results (or a count of rows of exceptions.csv), so each can be re-derived
// from queries/ against the evidence database.
import type { PacketQuery } from '../../packet/query-file.js';
import { FROM, inPeriod, localDay, quarterHour, quarterHourStart, SEGMENT_IN_PERIOD, TO } from './period-sql.js';
import { IDENTITIES } from './populations.js';
import { BUNDLES_IN_FORCE } from './masking.js';

/** Outside Monday–Friday 08:00–18:00 in the report's time zone. */
export const OFF_HOURS = (col: string) =>
  `(isodow(timezone($tz, ${col})) >= 6 OR hour(timezone($tz, ${col})) < 8 OR hour(timezone($tz, ${col})) >= 18)`;
/** OFF_HOURS of a quarter hour (period-sql.ts: quarterHour). */
const OFF_HOURS_Q = (q: string) => OFF_HOURS(quarterHourStart(q));

const kinds = `string_split(coalesce(statement_kind, ''), ',')`;

export const summary: PacketQuery = {
  id: 'figures-summary',
  title: 'Figures: the headline numbers of every criterion',
  file: 'figures/summary.csv',
  sql: `WITH st AS (
  SELECT
    count(*) AS statements,
    count(*) FILTER (WHERE decision IN ('allow', 'approved')) AS statements_allowed,
    count(*) FILTER (WHERE decision NOT IN ('allow', 'approved', 'approval_required')) AS statements_denied,
    count(*) FILTER (WHERE decision = 'approval_required') AS statements_held,
    count(*) FILTER (WHERE approval_id IS NOT NULL AND decision IN ('allow', 'approved')) AS statements_approved,
    count(*) FILTER (WHERE executed = 'yes') AS statements_executed,
    count(*) FILTER (WHERE subject IS NULL) AS statements_unattributed,
    count(*) FILTER (WHERE params_sha256 IS NOT NULL) AS statements_with_parameters,
    count(*) FILTER (WHERE list_contains(${kinds}, 'ddl') AND executed = 'yes') AS ddl_executed,
    count(*) FILTER (WHERE list_contains(${kinds}, 'ddl') AND executed = 'yes' AND approval_id IS NOT NULL) AS ddl_executed_approved,
    count(*) FILTER (WHERE list_contains(${kinds}, 'copy_to') AND decision NOT IN ('allow', 'approved')) AS blocked_exports,
    count(*) FILTER (WHERE masked IS NOT NULL AND CAST(masked AS VARCHAR) NOT IN ('[]', '{}')) AS statements_masked
  FROM statements WHERE ${inPeriod('ts')}
),
st_q AS (SELECT ${quarterHour('ts')} AS q, subject, count(*) AS n FROM statements WHERE ${inPeriod('ts')} GROUP BY ALL),
oh AS (
  SELECT coalesce(sum(n), 0)::BIGINT AS off_hours_statements, count(DISTINCT subject) AS off_hours_identities
  FROM st_q WHERE ${OFF_HOURS_Q('q')}
),
ss AS (
  SELECT
    count(*) AS sessions,
    count(*) FILTER (WHERE connect_decision = 'allow') AS sessions_admitted,
    count(*) FILTER (WHERE connect_decision <> 'allow') AS connections_refused,
    count(*) FILTER (WHERE connect_decision <> 'allow' AND connect_sqlstate IN ('28P01', '28000')) AS authentication_failures,
    count(*) FILTER (WHERE connect_decision = 'allow' AND TRY_CAST(start_detail ->> 'tls' AS BOOLEAN)) AS sessions_tls,
    count(*) FILTER (WHERE connect_decision = 'allow' AND NOT coalesce(TRY_CAST(start_detail ->> 'tls' AS BOOLEAN), false)) AS sessions_plaintext,
    count(DISTINCT subject) FILTER (WHERE connect_decision = 'allow') AS identities_active,
    count(DISTINCT subject) FILTER (WHERE connect_decision = 'allow' AND identity_kind = 'agent') AS identities_agents,
    count(DISTINCT subject) FILTER (WHERE connect_decision = 'allow' AND identity_kind = 'human') AS identities_humans,
    count(DISTINCT gateway_id) AS gateways
  FROM sessions WHERE ${inPeriod('started_at')}
),
ids AS (
  SELECT
    (SELECT count(*) FROM directory_imports) AS directory_imports,
    count(*) FILTER (WHERE in_directory) AS identities_in_directory,
    count(*) FILTER (WHERE in_directory = false AND sessions_allowed > 0) AS identities_not_in_directory,
    count(*) FILTER (WHERE used_after_disable) AS identities_used_after_disable,
    count(*) FILTER (WHERE registered_before_first_use = false AND sessions_allowed > 0) AS identities_used_before_registration,
    count(*) FILTER (WHERE dormant) AS identities_dormant
  FROM (${IDENTITIES})
),
am AS (
  SELECT count(*) AS access_combinations,
    count(*) FILTER (WHERE standing_grant = false AND executed > 0) AS access_used_without_standing_grant,
    count(*) FILTER (WHERE standing_grant) AS access_with_standing_grant,
    (SELECT count(*) FROM entitlement_snapshots) AS entitlement_snapshots
  FROM access_matrix_between(${FROM}, ${TO})
),
gu AS (SELECT count(*) AS grants_unused FROM grants_unused_between(${FROM}, ${TO})),
pr AS (
  SELECT count(*) FILTER (WHERE superuser OR bypassrls OR createrole OR replication) AS privileged_login_roles
  FROM ent_roles
  WHERE snapshot_id = (SELECT snapshot_id FROM entitlement_snapshots ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1)
    AND can_login AND name NOT LIKE 'pg\\_%' ESCAPE '\\'
),
pa AS (
  SELECT count(*) AS privileged_actions,
    count(*) FILTER (WHERE executed = 'yes') AS privileged_actions_executed,
    count(*) FILTER (WHERE list_contains(string_split(upper(coalesce(command_tag, '')), ','), 'CREATE EXTENSION') OR regexp_matches(sql, '^\\s*create\\s+extension', 'i')) AS extension_attempts,
    count(*) FILTER (WHERE regexp_matches(sql, '^\\s*create\\s+(or\\s+replace\\s+)?(function|procedure)', 'i')) AS function_creations
  FROM privileged_actions WHERE ${inPeriod('ts')}
),
tr AS (
  SELECT count(*) AS approvals,
    count(*) FILTER (WHERE outcome = 'approved') AS approvals_granted,
    count(*) FILTER (WHERE outcome IN ('rejected', 'denied')) AS approvals_rejected,
    count(*) FILTER (WHERE outcome IN ('expired', 'cancelled', 'withdrawn')) AS approvals_expired_or_withdrawn,
    count(*) FILTER (WHERE outcome IN ('pending', 'no approval record')) AS approvals_undecided,
    count(*) FILTER (WHERE executed = 'yes') AS approvals_executed,
    count(*) FILTER (WHERE self_approved OR too_few_approvers OR release_violation) AS approvals_sod_failures,
    round(quantile_cont(decision_seconds, 0.5), 1) AS approval_seconds_median,
    round(quantile_cont(decision_seconds, 0.9), 1) AS approval_seconds_p90
  FROM approval_trail_between(${FROM}, ${TO})
),
mk AS (
  SELECT coalesce(sum(values_masked), 0) AS values_masked, count(DISTINCT column_ref) AS columns_masked, count(DISTINCT subject) AS identities_masked
  FROM masking_events WHERE ${inPeriod('ts')}
),
cl AS (SELECT count(DISTINCT column_ref) AS columns_classified FROM classified_columns WHERE bundle_sha256 IN (${BUNDLES_IN_FORCE})),
um AS (SELECT count(*) AS unmasked_sensitive_reads FROM unmasked_sensitive_reads_between(${FROM}, ${TO})),
bd AS (
  SELECT count(DISTINCT bundle_sha256) AS bundles_in_force FROM (${BUNDLES_IN_FORCE})
),
gb AS (
  SELECT count(DISTINCT CASE WHEN json_valid(detail) THEN detail::JSON ->> '$.gateway.code_sha256' END) AS gateway_builds
  FROM records WHERE kind = 'bundle_loaded' AND ${inPeriod('ts')}
),
rc_q AS (
  SELECT ${quarterHour('ts')} AS q, count(*) AS n, count(*) FILTER (WHERE kind = 'approval') AS approvals
  FROM records WHERE ${inPeriod('ts')} GROUP BY q
),
rc AS (
  SELECT coalesce(sum(n), 0)::BIGINT AS records_landed, count(DISTINCT ${localDay(quarterHourStart('q'))}) AS days_with_records,
    coalesce(sum(approvals), 0)::BIGINT AS approval_records
  FROM rc_q
),
rt AS (
  SELECT round((epoch(max(ts)) - epoch(min(ts))) / 86400, 1) AS retention_days_on_record FROM records
),
sg AS (
  SELECT count(*) AS segments_in_period FROM segments s
  WHERE status = 'landed' AND ${SEGMENT_IN_PERIOD}
),
vf AS (
  SELECT count(*) FILTER (WHERE severity = 'error') AS verification_errors,
    count(*) FILTER (WHERE severity = 'error' AND NOT EXISTS (SELECT 1 FROM segments l WHERE l.gateway_id = v.gateway_id AND (l.segment_sha256 = v.segment_sha256 OR l.segment = v.segment))) AS verification_errors_unresolved
  FROM verification_results v
),
all_figures AS (SELECT * FROM st, oh, ss, ids, am, gu, pr, pa, tr, mk, cl, um, bd, gb, rc, rt, sg, vf)
SELECT metric, CAST(value AS DOUBLE) AS value
FROM all_figures UNPIVOT INCLUDE NULLS (value FOR metric IN (COLUMNS(*)))
ORDER BY metric`,
};

export const activityByDay: PacketQuery = {
  id: 'figures-activity-by-day',
  title: 'Figures: statements per day by decision',
  file: 'figures/activity-by-day.csv',
  sql: `WITH days AS (
  SELECT CAST(d AS DATE) AS day FROM generate_series(CAST($first_day AS DATE), CAST($last_day AS DATE), INTERVAL 1 DAY) t(d)
),
per_q AS (
  SELECT ${quarterHour('ts')} AS q, count(*) AS n,
    count(*) FILTER (WHERE decision IN ('allow', 'approved') AND approval_id IS NULL) AS allowed,
    count(*) FILTER (WHERE decision IN ('allow', 'approved') AND approval_id IS NOT NULL) AS approved,
    count(*) FILTER (WHERE decision = 'approval_required') AS held,
    count(*) FILTER (WHERE decision NOT IN ('allow', 'approved', 'approval_required')) AS denied
  FROM statements WHERE ${inPeriod('ts')} GROUP BY q
),
st AS (
  SELECT ${localDay(quarterHourStart('q'))} AS day,
    sum(allowed)::BIGINT AS allowed, sum(approved)::BIGINT AS approved, sum(held)::BIGINT AS held, sum(denied)::BIGINT AS denied,
    coalesce(sum(n) FILTER (WHERE ${OFF_HOURS_Q('q')}), 0)::BIGINT AS off_hours
  FROM per_q GROUP BY ALL
)
SELECT d.day, coalesce(allowed, 0) AS allowed, coalesce(approved, 0) AS approved, coalesce(held, 0) AS held, coalesce(denied, 0) AS denied, coalesce(off_hours, 0) AS off_hours
FROM days d LEFT JOIN st USING (day)
ORDER BY d.day`,
};

export const decisionsByIdentity: PacketQuery = {
  id: 'figures-decisions-by-identity',
  title: 'Figures: statements per identity by decision (every identity active in the period)',
  file: 'figures/decisions-by-identity.csv',
  sql: `WITH per AS (
  SELECT subject, any_value(identity_kind) AS identity_kind, count(*) AS statements,
    count(*) FILTER (WHERE decision IN ('allow', 'approved') AND approval_id IS NULL) AS allowed,
    count(*) FILTER (WHERE decision IN ('allow', 'approved') AND approval_id IS NOT NULL) AS approved,
    count(*) FILTER (WHERE decision = 'approval_required') AS held,
    count(*) FILTER (WHERE decision NOT IN ('allow', 'approved', 'approval_required')) AS denied,
    count(DISTINCT session_id) AS sessions
  FROM statements WHERE ${inPeriod('ts')}
  GROUP BY subject
),
per_q AS (SELECT subject, ${quarterHour('ts')} AS q, count(*) AS n FROM statements WHERE ${inPeriod('ts')} GROUP BY ALL),
off AS (SELECT subject, sum(n)::BIGINT AS off_hours FROM per_q WHERE ${OFF_HOURS_Q('q')} GROUP BY subject)
SELECT p.subject, p.identity_kind, p.statements, p.allowed, p.approved, p.held, p.denied, coalesce(o.off_hours, 0) AS off_hours, p.sessions
FROM per p LEFT JOIN off o ON o.subject IS NOT DISTINCT FROM p.subject
ORDER BY statements DESC, subject NULLS LAST`,
};

export const approvalLatency: PacketQuery = {
  id: 'figures-approval-latency',
  title: 'Figures: time from request to decision, in buckets',
  file: 'figures/approval-latency.csv',
  sql: `WITH b(bucket, label, lo, hi) AS (VALUES (1, 'under 1 min', 0, 60), (2, '1–5 min', 60, 300), (3, '5–15 min', 300, 900), (4, '15–60 min', 900, 3600), (5, '1–24 h', 3600, 86400), (6, 'over 24 h', 86400, NULL)),
t AS (SELECT decision_seconds FROM approval_trail_between(${FROM}, ${TO}) WHERE decision_seconds IS NOT NULL)
SELECT b.bucket, b.label, count(t.decision_seconds) AS approvals
FROM b LEFT JOIN t ON t.decision_seconds >= b.lo AND (b.hi IS NULL OR t.decision_seconds < b.hi)
GROUP BY b.bucket, b.label
ORDER BY b.bucket`,
};

export const maskedByColumn: PacketQuery = {
  id: 'figures-masked-by-column',
  title: 'Figures: values masked per column',
  file: 'figures/masked-by-column.csv',
  sql: `SELECT column_ref, sum(values_masked)::BIGINT AS values_masked, count(DISTINCT (gateway_id, session_id, statement_id)) AS statements,
  count(DISTINCT subject) AS identities, string_agg(DISTINCT method, '; ' ORDER BY method) AS methods
FROM masking_events WHERE ${inPeriod('ts')}
GROUP BY column_ref
ORDER BY values_masked DESC, column_ref`,
};

export const refusedConnections: PacketQuery = {
  id: 'figures-refused-connections',
  title: 'Figures: connections refused at startup, by SQLSTATE and reason',
  file: 'figures/refused-connections.csv',
  sql: `SELECT connect_sqlstate AS sqlstate, coalesce(from_json(connect_reasons, '["VARCHAR"]')[1], '') AS reason, count(*) AS connections,
  count(DISTINCT subject) AS identities, min(started_at) AS first_at, max(started_at) AS last_at
FROM sessions WHERE connect_decision <> 'allow' AND ${inPeriod('started_at')}
GROUP BY ALL
ORDER BY connections DESC, sqlstate, reason`,
};
