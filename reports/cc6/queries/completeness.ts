// completeness/: is the record whole? Per gateway and day, records emitted (by sequence
// number) vs landed, with the chain head at day's end; the segments and their seal chain;
// sequence gaps between landed segments; every verification finding of every collect run.
import type { CopyPacketQuery } from '../../packet/copy-query.js';
import { inPeriod, localDay, quarterHour, quarterHourStart, SEGMENT_IN_PERIOD } from './period-sql.js';

export const recordsByDay: CopyPacketQuery = {
  id: 'completeness-records-by-day',
  title: 'Completeness: records emitted (sequence range) vs landed, per gateway and day, with the chain head',
  file: 'completeness/records-by-gateway-day.csv',
  sql: `WITH per_q AS (
  SELECT gateway_id, ${quarterHour('ts')} AS q, count(*) AS n, min(seq) AS lo, max(seq) AS hi, arg_max(hash, seq) AS head
  FROM records
  WHERE ${inPeriod('ts')}
  GROUP BY ALL
)
SELECT gateway_id, ${localDay(quarterHourStart('q'))} AS day, sum(n)::BIGINT AS records_landed, min(lo) AS first_seq, max(hi) AS last_seq,
  max(hi) - min(lo) + 1 AS records_emitted, max(hi) - min(lo) + 1 - sum(n)::BIGINT AS records_missing,
  lower(hex(arg_max(head, hi))) AS chain_head
FROM per_q
GROUP BY ALL
ORDER BY gateway_id, day`,
};


export const segmentsInPeriod: CopyPacketQuery = {
  id: 'completeness-segments',
  title: 'Completeness: landed segments overlapping the period, their digests and seal chain',
  file: 'completeness/segments.csv',
  sql: `WITH s AS (
  SELECT *, lag(seal_sha256) OVER w AS previous_seal, lag(last_seq) OVER w AS previous_last_seq
  FROM segments WHERE status = 'landed'
  WINDOW w AS (PARTITION BY gateway_id ORDER BY first_seq, last_seq)
)
SELECT gateway_id, segment, first_seq, last_seq, records, opened_at, sealed_at, recovered, segment_sha256, segment_bytes,
  first_prev_hash, last_hash AS chain_head, seal_sha256, prev_seal_sha256, key_id,
  previous_seal IS NULL OR prev_seal_sha256 IS NOT DISTINCT FROM previous_seal AS seal_chain_ok,
  previous_last_seq IS NULL OR first_seq = previous_last_seq + 1 AS follows_previous,
  landed_at, run_id
FROM s
WHERE ${SEGMENT_IN_PERIOD}
ORDER BY gateway_id, first_seq`,
};

export const sequenceGaps: CopyPacketQuery = {
  id: 'completeness-gaps',
  title: 'Completeness: sequence numbers missing between landed segments (and before the first)',
  file: 'completeness/sequence-gaps.csv',
  sql: `WITH s AS (
  SELECT gateway_id, segment, first_seq, last_seq, opened_at, sealed_at, landed_at,
    lag(last_seq) OVER w AS previous_last_seq, lag(segment) OVER w AS previous_segment
  FROM segments WHERE status = 'landed'
  WINDOW w AS (PARTITION BY gateway_id ORDER BY first_seq, last_seq)
)
SELECT gateway_id, coalesce(previous_last_seq, 0) + 1 AS missing_from_seq, first_seq - 1 AS missing_to_seq,
  first_seq - coalesce(previous_last_seq, 0) - 1 AS missing_records, previous_segment AS after_segment, segment AS before_segment
FROM s
WHERE first_seq > coalesce(previous_last_seq, 0) + 1 AND ${SEGMENT_IN_PERIOD}
ORDER BY gateway_id, missing_from_seq`,
};

export const verificationFindings: CopyPacketQuery = {
  id: 'completeness-verification',
  title: 'Completeness: every verification error and warning of every collect run (whenever it ran)',
  file: 'completeness/verification-findings.csv',
  sql: `SELECT v.verified_at, v.run_id, v.gateway_id, v.segment, v.segment_sha256, v.first_seq, v.last_seq, v.code, v.severity, v.message,
  EXISTS (SELECT 1 FROM segments l WHERE l.gateway_id = v.gateway_id AND (l.segment_sha256 = v.segment_sha256 OR l.segment = v.segment)) AS later_landed
FROM verification_results v
WHERE v.severity IN ('error', 'warning')
ORDER BY v.verified_at, v.run_id, v.gateway_id, v.segment, v.code`,
};

export const collectRuns: CopyPacketQuery = {
  id: 'completeness-collect-runs',
  title: 'Completeness: every collect run (verification runs) recorded in the evidence database',
  file: 'completeness/collect-runs.csv',
  sql: `SELECT run_id, started_at, finished_at, directory, key_id, auditgate_version, status, segments_seen, segments_landed,
  segments_already_landed, segments_rejected, segments_open, records_landed, errors
FROM verification_runs
ORDER BY started_at, run_id`,
};


export const completenessQueries: CopyPacketQuery[] = [recordsByDay, segmentsInPeriod, sequenceGaps, verificationFindings, collectRuns];
