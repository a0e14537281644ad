// Policy bundles: every bundle sha256 the records cite (the bundle that decided each session and
// statement), with its manifest and source from the gateway's bundle_loaded records, and when
// it was loaded and in force. A bundle cited by records but never seen loaded (its
// bundle_loaded record is in a segment not landed) has a NULL manifest: manifest_known says so.
import type { SchemaPart } from './part.js';

const detail = `CASE WHEN json_valid(detail) THEN detail::JSON END`;

export const bundlesSchema: SchemaPart = {
  name: 'bundles',
  version: 1,
  statements: [
    `CREATE OR REPLACE VIEW policy_bundles AS
    WITH cited AS (
      SELECT bundle_sha256,
        min(ts) AS first_seen, max(ts) AS last_seen,
        count(*) FILTER (WHERE kind = 'statement') AS statements_decided,
        count(*) FILTER (WHERE kind = 'session_start') AS sessions_decided,
        list(DISTINCT gateway_id ORDER BY gateway_id) AS gateways
      FROM records WHERE bundle_sha256 IS NOT NULL GROUP BY bundle_sha256
    ), loaded AS (
      SELECT bundle_sha256,
        min(ts) AS first_loaded_at, max(ts) AS last_loaded_at, count(*) AS loads,
        arg_min(${detail}, ts) AS detail
      FROM records WHERE kind = 'bundle_loaded' AND bundle_sha256 IS NOT NULL GROUP BY bundle_sha256
    )
    SELECT
      coalesce(c.bundle_sha256, l.bundle_sha256) AS bundle_sha256,
      l.detail ->> 'source' AS source,
      CASE WHEN l.detail IS NULL THEN NULL WHEN json_exists(l.detail, '$.manifest') THEN l.detail -> 'manifest' ELSE l.detail END AS manifest,
      coalesce(l.detail ->> '$.manifest.revision', l.detail ->> 'revision') AS revision,
      l.detail IS NOT NULL AS manifest_known,
      l.first_loaded_at, l.last_loaded_at, coalesce(l.loads, 0) AS loads,
      least(c.first_seen, l.first_loaded_at) AS first_seen,
      greatest(c.last_seen, l.last_loaded_at) AS last_seen,
      coalesce(c.statements_decided, 0) AS statements_decided,
      coalesce(c.sessions_decided, 0) AS sessions_decided,
      c.gateways
    FROM cited c FULL OUTER JOIN loaded l ON l.bundle_sha256 = c.bundle_sha256`,
  ],
};
