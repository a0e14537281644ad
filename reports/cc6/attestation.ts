// masking-attestation.json: what masking covered in the period, in one document an auditor can
// read or feed to a tool. Assembled from query results already in the packet; `sources` names
// them, so every figure here is reproducible from queries/.
import type { QueryResult } from '../../collectors/query.js';
import type { Period } from './period.js';

export interface MaskingAttestation {
  attestation: 'auditgate masking attestation';
  version: 1;
  period: { from: string; to: string; time_zone: string };
  statement: string;
  bundles_in_force: Record<string, unknown>[];
  classified_columns: Record<string, unknown>[];
  masked_by_column_and_identity: Record<string, unknown>[];
  unmasked_sensitive_reads: { count: number; file: string; note: string };
  blocked_exports: { count: number; file: string };
  sources: Record<string, string>;
}

export const rowsOf = (r: QueryResult): Record<string, unknown>[] => r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null])));

export function maskingAttestation(
  period: Period,
  parts: { bundles: QueryResult; classified: QueryResult; masked: QueryResult; unmaskedReads: { count: number; file: string }; blockedExports: { count: number; file: string } },
): MaskingAttestation {
  return {
    attestation: 'auditgate masking attestation',
    version: 1,
    period: { from: period.from, to: period.to, time_zone: period.timeZone },
    statement:
      'Masked values are replaced in the result before it leaves the gateway and are never written to the record: the record schema (docs/record-schema.md) ' +
      'has no column for result values, bound parameters are stored only as a sha256 (params_sha256), and masking is recorded as counts per column. ' +
      'Columns below are those the policy bundles in force classify as sensitive, plus any column the gateway masked by content detection.',
    bundles_in_force: rowsOf(parts.bundles).map((b) => ({ bundle_sha256: b.bundle_sha256, revision: b.revision, statements_decided: b.statements_decided, gateway_builds: b.gateway_builds })),
    classified_columns: rowsOf(parts.classified),
    masked_by_column_and_identity: rowsOf(parts.masked),
    unmasked_sensitive_reads: {
      ...parts.unmaskedReads,
      note: 'Executed reads of a sensitive table in which nothing of that table was masked. Expected only for identities the policy clears to see the values; each is listed in the file and summarised in exceptions.csv.',
    },
    blocked_exports: parts.blockedExports,
    sources: {
      bundles_in_force: 'queries/policy-bundles.sql',
      classified_columns: 'queries/masking-classified-columns.sql',
      masked_by_column_and_identity: 'queries/masking-masked-values.sql',
      unmasked_sensitive_reads: 'queries/masking-unmasked-reads.sql',
      blocked_exports: 'queries/masking-blocked-exports.sql',
    },
  };
}
