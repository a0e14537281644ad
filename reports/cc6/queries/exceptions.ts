// exceptions.csv: every finding the packet calls out, with the criterion it bears on and the
// file that holds the detail. Repetitive findings (reads of one table by one identity) are one
// row with a count, so the list stays readable at any volume. 'exception' = a control did not operate as
// designed; 'review' = the evidence shows something an auditor should look at (e.g. a
// cleared identity reading a sensitive table unmasked).
import type { PacketQuery } from '../../packet/query-file.js';
import { FROM, inPeriod, SEGMENT_IN_PERIOD, TO } from './period-sql.js';
import { IDENTITIES } from './populations.js';

export const exceptions: PacketQuery = {
  id: 'exceptions',
  title: 'Exceptions: findings called out across the criteria',
  file: 'exceptions.csv',
  sql: `WITH ids AS (${IDENTITIES}),
trail AS (SELECT * FROM approval_trail_between(${FROM}, ${TO})),
seg AS (
  SELECT gateway_id, segment, first_seq, last_seq, opened_at, sealed_at, landed_at, prev_seal_sha256,
    lag(last_seq) OVER w AS previous_last_seq, lag(seal_sha256) OVER w AS previous_seal
  FROM segments WHERE status = 'landed'
  WINDOW w AS (PARTITION BY gateway_id ORDER BY first_seq, last_seq)
),
seg_in AS (SELECT * FROM seg s WHERE ${SEGMENT_IN_PERIOD}),
findings AS (
  SELECT 'CC6.1' AS criterion, 'unattributed_statement' AS "check", 'exception' AS severity, min(ts) AS occurred_at, NULL AS subject,
    gateway_id AS reference, count(*) || ' statement record(s) carry no identity' AS detail, 'populations/statements.csv' AS evidence_file
  FROM records WHERE kind = 'statement' AND subject IS NULL AND ${inPeriod('ts')} GROUP BY gateway_id
  UNION ALL
  SELECT 'CC6.2', 'not_in_directory', 'exception', first_session, subject, subject,
    'admitted ' || sessions_allowed || ' session(s) but not listed in the identity directory', 'populations/identities.csv'
  FROM ids WHERE in_directory = false AND sessions_allowed > 0
  UNION ALL
  SELECT 'CC6.2', 'used_after_disable', 'exception', last_session, subject, subject,
    'a session was admitted at or after the identity was disabled (' || CAST(disabled_at AS VARCHAR) || ')', 'populations/identities.csv'
  FROM ids WHERE used_after_disable
  UNION ALL
  SELECT 'CC6.2', 'used_before_registration', 'exception', first_use_ever, subject, subject,
    'first used before it was registered in the directory (' || CAST(registered_at AS VARCHAR) || ')', 'populations/identities.csv'
  FROM ids WHERE registered_before_first_use = false AND sessions_allowed > 0
  UNION ALL
  SELECT 'CC6.3', 'used_without_standing_grant', 'review', first_seen, subject,
    coalesce(database, '?') || ':' || coalesce(table_schema || '.', '') || table_name || ' ' || action,
    executed || ' executed statement(s) as ' || upstream_role || ' with no standing grant in the newest entitlement snapshot', 'access-matrix.csv'
  FROM access_matrix_between(${FROM}, ${TO}) WHERE standing_grant = false AND executed > 0
  UNION ALL
  SELECT 'CC6.3', 'self_approved', 'exception', requested_at, subject, approval_id, 'the requester is among the approvers', 'approval-trail.csv' FROM trail WHERE self_approved
  UNION ALL
  SELECT 'CC6.3', 'too_few_approvers', 'exception', requested_at, subject, approval_id,
    'approved by ' || len(coalesce(approved_by, [])) || ' of ' || coalesce(required_approvals, 1) || ' required approvers', 'approval-trail.csv' FROM trail WHERE too_few_approvers
  UNION ALL
  SELECT 'CC6.3', 'release_violation', 'exception', requested_at, subject, approval_id,
    'executed ' || executions || ' time(s) with outcome ' || outcome, 'approval-trail.csv' FROM trail WHERE release_violation
  UNION ALL
  SELECT 'CC6.7', 'unmasked_sensitive_read', 'review', min(ts), subject, coalesce(table_schema || '.', '') || table_name,
    count(*) || ' executed read(s) of this sensitive table with nothing of it masked (cleared identity, or a gap in masking)', 'masking/unmasked-sensitive-reads.csv'
  FROM unmasked_sensitive_reads_between(${FROM}, ${TO}) GROUP BY subject, table_schema, table_name
  UNION ALL
  SELECT 'CC6.8', 'software_change_without_approval', 'review', ts, subject, gateway_id || '/' || session_id || '#' || statement_id,
    coalesce(command_tag, statement_kind) || ' executed without an approval', 'privileged-actions.csv'
  FROM privileged_actions
  WHERE executed = 'yes' AND approval_id IS NULL AND ${inPeriod('ts')}
    AND (list_has_any(string_split(upper(coalesce(command_tag, '')), ','), ['CREATE EXTENSION', 'ALTER EXTENSION', 'CREATE FUNCTION', 'CREATE PROCEDURE', 'CREATE LANGUAGE', 'LOAD'])
      OR regexp_matches(sql, '^\\s*create\\s+(or\\s+replace\\s+)?(function|procedure|extension|language)', 'i'))
  UNION ALL
  SELECT 'completeness', 'sequence_gap', 'exception', coalesce(opened_at, landed_at), NULL, gateway_id || ' seq ' || (coalesce(previous_last_seq, 0) + 1) || '–' || (first_seq - 1),
    (first_seq - coalesce(previous_last_seq, 0) - 1) || ' record(s) never landed before segment ' || segment, 'completeness/sequence-gaps.csv'
  FROM seg_in WHERE first_seq > coalesce(previous_last_seq, 0) + 1
  UNION ALL
  SELECT 'completeness', 'seal_chain_break', 'exception', coalesce(opened_at, landed_at), NULL, gateway_id || ' ' || segment,
    'the segment''s seal does not name the previous landed segment''s seal', 'completeness/segments.csv'
  FROM seg_in WHERE previous_seal IS NOT NULL AND prev_seal_sha256 IS DISTINCT FROM previous_seal
  UNION ALL
  SELECT 'completeness', 'verification_error', 'exception', v.verified_at, NULL, coalesce(v.gateway_id, '?') || ' ' || coalesce(v.segment, '?'),
    v.code || ': ' || v.message, 'completeness/verification-findings.csv'
  FROM verification_results v
  WHERE v.severity = 'error' AND NOT EXISTS (SELECT 1 FROM segments l WHERE l.gateway_id = v.gateway_id AND (l.segment_sha256 = v.segment_sha256 OR l.segment = v.segment))
)
SELECT * FROM findings ORDER BY criterion, "check", occurred_at NULLS FIRST, reference, subject NULLS FIRST`,
};
