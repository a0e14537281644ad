// The packet's top-level data files: what an auditor opens first. Each is one read-only query
// over the evidence views (docs/evidence.md), bound to the period.
import type { CopyPacketQuery } from '../../packet/copy-query.js';
import type { PacketQuery } from '../../packet/query-file.js';
import { FROM, inPeriod, TO } from './period-sql.js';
import { DECISION_RECORDS } from './masking.js';

export const accessMatrix: CopyPacketQuery = {
  id: 'access-matrix',
  title: 'Access matrix: identity × database × object × action, used vs granted',
  file: 'access-matrix.csv',
  sql: `SELECT subject, display_name, identity_owner, identity_kind, upstream_role, database, table_schema, table_name, action,
  statements, allowed, denied, held_for_approval, approved, executed, first_seen AS first_use, last_seen AS last_use,
  standing_grant, array_to_string(granted_by, '; ') AS granted_by,
  false AS granted_but_unused,
  coalesce(standing_grant = false AND executed > 0, false) AS used_without_standing_grant
FROM access_matrix_between(${FROM}, ${TO})
UNION ALL
SELECT g.subject, d.display_name, d.owner, g.identity_kind, g.upstream_role, g.database, g.table_schema, g.table_name, g.action,
  0, 0, 0, 0, 0, 0, NULL, NULL,
  true, array_to_string(g.granted_by, '; '),
  true, false
FROM grants_unused_between(${FROM}, ${TO}) g LEFT JOIN directory d ON d.subject = g.subject
ORDER BY subject NULLS LAST, database, table_schema NULLS FIRST, table_name, action, upstream_role, granted_but_unused`,
};

export const approvalTrail: CopyPacketQuery = {
  id: 'approval-trail',
  title: 'Approval trail: every held statement, its approvers, decision and execution',
  file: 'approval-trail.csv',
  sql: `SELECT approval_id, statement_hash, gateway_id, session_id, statement_id,
  subject AS requested_by, identity_kind, database, upstream_role, statement_kind, request_reason AS rule,
  array_to_string(approvers, '; ') AS approver_groups, required_approvals, array_to_string(approved_by, '; ') AS approved_by, decided_by,
  outcome, requested_at, decided_at, round(decision_seconds, 3) AS decision_seconds, expires_at,
  executed, executed_at, executions, "rows", error_sqlstate,
  self_approved, too_few_approvers, release_violation,
  CASE WHEN self_approved OR too_few_approvers OR release_violation THEN 'fail' ELSE 'pass' END AS sod_check,
  sql
FROM approval_trail_between(${FROM}, ${TO})
ORDER BY requested_at, approval_id NULLS LAST, gateway_id, session_id, statement_id`,
};

export const privilegedActions: CopyPacketQuery = {
  id: 'privileged-actions',
  title: 'Privileged actions: DDL, privilege changes, SET ROLE, superuser commands and admin functions',
  file: 'privileged-actions.csv',
  sql: `SELECT ts, array_to_string(categories, '; ') AS categories, subject, identity_kind, database, upstream_role, role_is_superuser,
  statement_kind, command_tag, decision, array_to_string(from_json(reasons, '["VARCHAR"]'), '; ') AS reasons, approval_id, executed, "rows", error_sqlstate,
  gateway_id, session_id, statement_id, sql
FROM privileged_actions
WHERE ${inPeriod('ts')}
ORDER BY ts, gateway_id, session_id, statement_id`,
};

export const entitlements: CopyPacketQuery = {
  id: 'entitlements',
  title: 'Entitlements: what each login role can do (newest catalog snapshot)',
  file: 'entitlements.csv',
  sql: `WITH latest AS (SELECT snapshot_id, taken_at FROM entitlement_snapshots ORDER BY taken_at DESC, snapshot_id DESC LIMIT 1)
SELECT l.snapshot_id, l.taken_at, r.name AS role, r.can_login, r.superuser, r.bypassrls, r.createrole, r.createdb, r.replication,
  g.database, g.table_schema, g.table_name, g.action, g.granted_by
FROM latest l
JOIN ent_roles r ON r.snapshot_id = l.snapshot_id
LEFT JOIN effective_grants g ON g.login = r.name
WHERE (r.can_login OR r.superuser) AND r.name NOT LIKE 'pg\\_%' ESCAPE '\\'
ORDER BY role, database NULLS FIRST, table_schema, table_name, action, granted_by`,
};

export const denials: CopyPacketQuery = {
  id: 'denials',
  title: 'Denials: statements the policy refused and connections refused at startup',
  file: 'denials.csv',
  sql: `SELECT * FROM (
  SELECT ts, 'statement' AS type, subject, identity_kind, client_addr, database, upstream_role, decision,
    array_to_string(from_json(reasons, '["VARCHAR"]'), '; ') AS reasons, error_sqlstate, statement_kind, sql,
    gateway_id, session_id, statement_id
  FROM statements
  WHERE decision NOT IN ('allow', 'approved', 'approval_required') AND ${inPeriod('ts')}
  UNION ALL
  SELECT started_at, 'connection', subject, identity_kind, client_addr, database, upstream_role, connect_decision,
    array_to_string(from_json(connect_reasons, '["VARCHAR"]'), '; '), connect_sqlstate, NULL, NULL,
    gateway_id, session_id, NULL
  FROM sessions
  WHERE connect_decision <> 'allow' AND ${inPeriod('started_at')}
) ORDER BY ts, gateway_id, type, session_id NULLS FIRST, statement_id NULLS FIRST`,
};

export const policyBundles: PacketQuery = {
  id: 'policy-bundles',
  title: 'Policy bundles and gateway builds in force during the period',
  file: 'policy-bundles.csv',
  sql: `WITH loads AS (
  SELECT gateway_id, ts, bundle_sha256, CASE WHEN json_valid(detail) THEN detail::JSON END AS d FROM records WHERE kind = 'bundle_loaded'
),
used AS (
  SELECT bundle_sha256, count(*) FILTER (WHERE kind = 'statement') AS statements_decided, count(*) FILTER (WHERE kind = 'session_start') AS sessions_decided,
    min(ts) AS first_decision, max(ts) AS last_decision
  FROM (${DECISION_RECORDS}) WHERE bundle_sha256 IS NOT NULL AND ${inPeriod('ts')} GROUP BY bundle_sha256
),
builds AS (
  SELECT bundle_sha256,
    string_agg(DISTINCT (d ->> '$.gateway.version') || ' (code ' || left(d ->> '$.gateway.code_sha256', 16) || ')', '; ' ORDER BY (d ->> '$.gateway.version') || ' (code ' || left(d ->> '$.gateway.code_sha256', 16) || ')') AS gateway_builds,
    string_agg(DISTINCT gateway_id, '; ' ORDER BY gateway_id) AS gateways_loaded,
    max(ts) FILTER (WHERE ts < ${TO}) AS last_loaded_before_end
  FROM loads GROUP BY bundle_sha256
)
SELECT b.bundle_sha256, b.revision, b.source, b.manifest_known, u.first_decision, u.last_decision,
  coalesce(u.statements_decided, 0) AS statements_decided, coalesce(u.sessions_decided, 0) AS sessions_decided,
  b.first_loaded_at, b.last_loaded_at, b.loads, x.gateways_loaded, x.gateway_builds
FROM policy_bundles b
LEFT JOIN used u ON u.bundle_sha256 = b.bundle_sha256
LEFT JOIN builds x ON x.bundle_sha256 = b.bundle_sha256
WHERE u.bundle_sha256 IS NOT NULL OR (b.first_loaded_at < ${TO} AND coalesce(b.last_seen, b.last_loaded_at) >= ${FROM})
ORDER BY coalesce(u.first_decision, b.first_loaded_at), b.bundle_sha256`,
};

export const gatewayBuilds: PacketQuery = {
  id: 'gateway-builds',
  title: 'Gateway software: every gateway build that started or loaded a policy during the period',
  file: 'gateway-builds.csv',
  sql: `WITH loads AS (
  SELECT gateway_id, ts, bundle_sha256, CASE WHEN json_valid(detail) THEN detail::JSON END AS d FROM records WHERE kind = 'bundle_loaded' AND ts < ${TO}
)
SELECT gateway_id, d ->> '$.gateway.version' AS version, d ->> '$.gateway.code_sha256' AS code_sha256, d ->> '$.gateway.node' AS node,
  min(ts) AS first_loaded_at, max(ts) AS last_loaded_at, count(*) AS policy_loads,
  string_agg(DISTINCT bundle_sha256, '; ' ORDER BY bundle_sha256) AS bundles
FROM loads
-- builds in force during the period: loaded inside it, or the last load before it began
WHERE ts >= ${FROM} OR ts = (SELECT max(l.ts) FROM loads l WHERE l.gateway_id = loads.gateway_id AND l.ts < ${FROM})
GROUP BY ALL
ORDER BY gateway_id, first_loaded_at`,
};
