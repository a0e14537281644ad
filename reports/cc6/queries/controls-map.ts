// controls-map.csv: criterion → the evidence files that bear on it → the queries behind them.
// One table drives both the CSV (a VALUES query, so it too is reproducible) and the page.
import type { PacketQuery } from '../../packet/query-file.js';
import { sqlLiteral } from '../../../collectors/query.js';

export interface Criterion {
  id: string;
  title: string;
  /** Packet files (relative paths) that hold this criterion's evidence. */
  files: string[];
}

export const CRITERIA: Criterion[] = [
  { id: 'CC6.1', title: 'Logical access: every identity authenticated, all access through the gateway', files: ['populations/sessions.csv', 'populations/statements.csv', 'access-matrix.csv', 'figures/summary.csv', 'figures/decisions-by-identity.csv'] },
  { id: 'CC6.2', title: 'Registration and removal: identities known before first use, none used after revocation, dormant ones', files: ['populations/identities.csv', 'exceptions.csv'] },
  { id: 'CC6.3', title: 'Least privilege: granted vs used, privileged grants and actions, separation of duties', files: ['access-matrix.csv', 'entitlements.csv', 'privileged-actions.csv', 'approval-trail.csv', 'figures/approval-latency.csv'] },
  { id: 'CC6.4', title: 'Physical access (inherited from the hosting provider)', files: [] },
  { id: 'CC6.5', title: 'Retention of records; masked values never persisted', files: ['completeness/records-by-gateway-day.csv', 'completeness/segments.csv', 'masking-attestation.json'] },
  { id: 'CC6.6', title: 'Boundary protection: TLS, refused connections and authentication failures', files: ['populations/sessions.csv', 'denials.csv', 'figures/refused-connections.csv'] },
  { id: 'CC6.7', title: 'Restricting data in transit and use: masking, blocked bulk exports', files: ['masking-attestation.json', 'masking/masked-values.csv', 'masking/classified-columns.csv', 'masking/unmasked-sensitive-reads.csv', 'masking/blocked-exports.csv', 'figures/masked-by-column.csv'] },
  { id: 'CC6.8', title: 'Unauthorised software: policy bundles and gateway builds in force; extension and function installs', files: ['policy-bundles.csv', 'gateway-builds.csv', 'privileged-actions.csv'] },
  { id: 'CC7.2', title: 'Monitoring: denials and anomalies such as off-hours activity', files: ['denials.csv', 'figures/activity-by-day.csv', 'figures/decisions-by-identity.csv'] },
  { id: 'CC8.1', title: 'Change management: DDL executed, with approvals', files: ['privileged-actions.csv', 'approval-trail.csv'] },
  { id: 'completeness', title: 'Completeness and accuracy of the record (IPE)', files: ['completeness/records-by-gateway-day.csv', 'completeness/segments.csv', 'completeness/sequence-gaps.csv', 'completeness/verification-findings.csv', 'completeness/collect-runs.csv', 'samples/selection.json'] },
];


/** The map as a query; `queryOf` names the query that writes each file. */
export function controlsMapQuery(queryOf: (file: string) => string | undefined): PacketQuery {
  const rows: string[] = [];
  for (const c of CRITERIA) {
    if (c.files.length === 0) rows.push(`(${sqlLiteral(c.id)}, ${sqlLiteral(c.title)}, NULL, NULL)`);
    for (const f of c.files) {
      const q = queryOf(f);
      rows.push(`(${sqlLiteral(c.id)}, ${sqlLiteral(c.title)}, ${sqlLiteral(f)}, ${q ? sqlLiteral(q) : 'NULL'})`);
    }
  }
  return {
    id: 'controls-map',
    title: 'Controls map: criterion → evidence files → the queries that produced them',
    file: 'controls-map.csv',
    sql: `SELECT * FROM (VALUES\n  ${rows.join(',\n  ')}\n) AS m(criterion, title, evidence_file, query_id)`,
  };
}
