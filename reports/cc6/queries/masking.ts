// Masking evidence (CC6.7, CC6.5): what the policies classify, what was masked for whom, and
// every executed read of a sensitive table in which nothing was masked (should be none, or
// identities cleared to see the values). masking-attestation.json is assembled from these.
import type { CopyPacketQuery } from '../../packet/copy-query.js';
import type { PacketQuery } from '../../packet/query-file.js';
import { FROM, inPeriod, TO } from './period-sql.js';

/**
 * Every decision record, statement or session start, as (bundle_sha256, kind, ts): the statements
 * and sessions views hold one row per such record, and are far narrower to scan than records.
 */
export const DECISION_RECORDS = `SELECT bundle_sha256, 'statement' AS kind, ts FROM statements
  UNION ALL SELECT bundle_sha256, 'session_start' AS kind, started_at AS ts FROM sessions`;

/** Bundles that decided something in the period, or were loaded during it. */
export const BUNDLES_IN_FORCE = `SELECT DISTINCT bundle_sha256 FROM (
  ${DECISION_RECORDS}
  UNION ALL SELECT bundle_sha256, kind, ts FROM records WHERE kind = 'bundle_loaded'
) WHERE bundle_sha256 IS NOT NULL AND ${inPeriod('ts')}`;

export const classifiedColumns: PacketQuery = {
  id: 'masking-classified-columns',
  title: 'Masking: columns the policy bundles in force classify as sensitive, and their methods',
  file: 'masking/classified-columns.csv',
  sql: `SELECT column_ref, table_schema, table_name, column_name, method, string_agg(DISTINCT bundle_sha256, '; ' ORDER BY bundle_sha256) AS bundles
FROM classified_columns
WHERE bundle_sha256 IN (${BUNDLES_IN_FORCE})
GROUP BY ALL
ORDER BY column_ref, method`,
};

export const maskedValues: PacketQuery = {
  id: 'masking-masked-values',
  title: 'Masking: values masked per sensitive column and identity',
  file: 'masking/masked-values.csv',
  sql: `SELECT column_ref, table_schema, table_name, column_name, subject, identity_kind, statements_masked, values_masked,
  first_masked_at, last_masked_at, array_to_string(methods, '; ') AS methods, statements_touching_table, statements_touching_table_unmasked
FROM masking_attestation_between(${FROM}, ${TO})
ORDER BY column_ref, subject NULLS LAST, identity_kind`,
};

export const unmaskedSensitive: CopyPacketQuery = {
  id: 'masking-unmasked-reads',
  title: 'Masking: executed reads of a sensitive table in which nothing of that table was masked',
  file: 'masking/unmasked-sensitive-reads.csv',
  sql: `SELECT ts, subject, identity_kind, database, upstream_role, table_schema, table_name, decision, approval_id, "rows",
  gateway_id, session_id, statement_id, sql
FROM unmasked_sensitive_statements_between(${FROM}, ${TO})
ORDER BY ts, gateway_id, session_id, statement_id, table_schema, table_name`,
};

export const blockedExports: CopyPacketQuery = {
  id: 'masking-blocked-exports',
  title: 'Masking: bulk exports (COPY ... TO) refused by the policy',
  file: 'masking/blocked-exports.csv',
  sql: `SELECT ts, subject, identity_kind, database, upstream_role, decision, array_to_string(from_json(reasons, '["VARCHAR"]'), '; ') AS reasons,
  gateway_id, session_id, statement_id, sql
FROM statements
WHERE list_contains(string_split(coalesce(statement_kind, ''), ','), 'copy_to') AND decision NOT IN ('allow', 'approved') AND ${inPeriod('ts')}
ORDER BY ts, gateway_id, session_id, statement_id`,
};
