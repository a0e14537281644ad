// The full populations auditors sample from: sessions, statements, approval events and
// identities of the period, as CSV and Parquet (populations/).
import type { CopyPacketQuery } from '../../packet/copy-query.js';
import { inPeriod } from './period-sql.js';

export const sessionsPopulation: CopyPacketQuery = {
  id: 'population-sessions',
  title: 'Population: every session started in the period (refused connections included)',
  file: 'populations/sessions.csv',
  parquet: 'populations/sessions.parquet',
  sql: `SELECT gateway_id, session_id, start_seq, started_at, ended_at, duration_seconds, end_reason,
  subject, issuer, identity_kind, array_to_string(groups, '; ') AS groups, agent_model, repository, ticket,
  client_addr, application_name, database, upstream_role,
  connect_decision, array_to_string(from_json(connect_reasons, '["VARCHAR"]'), '; ') AS connect_reasons, connect_sqlstate,
  TRY_CAST(start_detail ->> 'tls' AS BOOLEAN) AS tls, read_only, bundle_sha256,
  statements, statements_allowed, statements_denied, statements_held
FROM sessions
WHERE ${inPeriod('started_at')}
ORDER BY started_at, gateway_id, start_seq`,
};

export const statementsPopulation: CopyPacketQuery = {
  id: 'population-statements',
  title: 'Population: every statement decided in the period, with its outcome',
  file: 'populations/statements.csv',
  parquet: 'populations/statements.parquet',
  sql: `SELECT gateway_id, seq, session_id, statement_id, ts, subject, identity_kind, database, upstream_role,
  protocol, statement_kind, command_tag, decision, array_to_string(from_json(reasons, '["VARCHAR"]'), '; ') AS reasons, approval_id,
  executed, "rows", duration_us, error_sqlstate, CAST(masked AS VARCHAR) AS masked, fingerprint, params_sha256, bundle_sha256, sql
-- In the evidence database's own order (derived_statements, as collect derived them), which a
-- re-run on the same database reproduces. No ORDER BY: sorting the wide rows costs seconds per
-- million statements. Sort by gateway_id, seq to read them in recording order.
FROM statements
WHERE ${inPeriod('ts')}`,
};

export const approvalsPopulation: CopyPacketQuery = {
  id: 'population-approvals',
  title: 'Population: every approval event in the period (requested, approved, rejected, granted, released, expired)',
  file: 'populations/approvals.csv',
  parquet: 'populations/approvals.parquet',
  sql: `SELECT gateway_id, seq, ts, approval_id, event, actor, subject AS requested_by, identity_kind, database, session_id, statement_id,
  array_to_string(approvers, '; ') AS approver_groups, reason, ttl_seconds
FROM approvals
WHERE ${inPeriod('ts')}
ORDER BY ts, gateway_id, seq`,
};

/**
 * Every identity seen in the period, and every identity the directory lists: registration,
 * first use, use after disablement, dormancy. Directory columns are NULL when no directory was
 * imported (auditgate collect identities).
 */
export const IDENTITIES = `WITH seen AS (
  SELECT subject, any_value(identity_kind ORDER BY started_at) AS identity_kind, any_value(issuer ORDER BY started_at) AS issuer,
    count(*) AS sessions,
    count(*) FILTER (WHERE connect_decision = 'allow') AS sessions_allowed,
    count(*) FILTER (WHERE connect_decision <> 'allow') AS sessions_refused,
    min(started_at) FILTER (WHERE connect_decision = 'allow') AS first_session,
    max(started_at) FILTER (WHERE connect_decision = 'allow') AS last_session,
    sum(statements) AS statements, sum(statements_denied) AS statements_denied
  FROM sessions WHERE subject IS NOT NULL AND ${inPeriod('started_at')} GROUP BY subject
),
ever AS (SELECT subject, min(started_at) AS first_use_ever FROM sessions WHERE connect_decision = 'allow' AND subject IS NOT NULL GROUP BY subject),
has_dir AS (SELECT count(*) > 0 AS yes FROM directory_imports)
SELECT coalesce(s.subject, d.subject) AS subject, d.display_name, d.email, coalesce(d.kind, s.identity_kind) AS kind, d.owner,
  s.issuer, d.status AS directory_status, d.created_at AS registered_at, d.disabled_at,
  coalesce(s.sessions, 0) AS sessions, coalesce(s.sessions_allowed, 0) AS sessions_allowed, coalesce(s.sessions_refused, 0) AS sessions_refused,
  coalesce(s.statements, 0) AS statements, coalesce(s.statements_denied, 0) AS statements_denied,
  s.first_session, s.last_session, e.first_use_ever,
  CASE WHEN (SELECT yes FROM has_dir) THEN d.subject IS NOT NULL END AS in_directory,
  CASE WHEN d.created_at IS NOT NULL AND e.first_use_ever IS NOT NULL THEN d.created_at <= e.first_use_ever END AS registered_before_first_use,
  CASE WHEN (SELECT yes FROM has_dir) THEN coalesce(d.disabled_at IS NOT NULL AND s.last_session >= d.disabled_at, false) END AS used_after_disable,
  CASE WHEN (SELECT yes FROM has_dir) THEN d.subject IS NOT NULL AND d.status = 'active' AND coalesce(s.sessions_allowed, 0) = 0 END AS dormant
FROM seen s
FULL OUTER JOIN directory d ON d.subject = s.subject
LEFT JOIN ever e ON e.subject = coalesce(s.subject, d.subject)`;

export const identitiesPopulation: CopyPacketQuery = {
  id: 'population-identities',
  title: 'Population: identities seen in the period and in the identity directory',
  file: 'populations/identities.csv',
  parquet: 'populations/identities.parquet',
  sql: `${IDENTITIES}
ORDER BY subject`,
};

/** Shared by the sample draw: the sessions a sample is drawn from. */
export const SAMPLE_POPULATION = `SELECT gateway_id, session_id, started_at, subject FROM sessions
WHERE session_id IS NOT NULL AND connect_decision = 'allow' AND ${inPeriod('started_at')}`;

export const samplePopulation: CopyPacketQuery = {
  id: 'sample-population',
  title: 'The sampled population: sessions admitted in the period, by gateway and session id',
  file: 'samples/population.csv',
  sql: `${SAMPLE_POPULATION}
ORDER BY gateway_id, session_id`,
};

