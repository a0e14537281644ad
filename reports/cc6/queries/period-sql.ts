// SQL fragments every CC6 query shares: the period's bounds as bound parameters, so each
// queries/<id>.sql reads plainly and its meta.json carries the values.
import type { Period } from '../period.js';
import type { QueryParams } from '../../packet/query-file.js';

export const FROM = `CAST($from AS TIMESTAMPTZ)`;
export const TO = `CAST($to AS TIMESTAMPTZ)`;
/** `col` falls in the period [from, to). */
export const inPeriod = (col: string) => `${col} >= ${FROM} AND ${col} < ${TO}`;
/** The local calendar day of a timestamp column in the report's time zone. */
export const localDay = (col: string) => `CAST(timezone($tz, ${col}) AS DATE)`;

/**
 * The quarter hour of a timestamp column, as a number (plain arithmetic, no time zone rules),
 * and its first instant. Every time zone's offset has been a whole number of quarter hours
 * since 1972, so all instants of a quarter hour share a local day and hour: queries count per
 * quarter hour, then apply the time zone to a few thousand of them, not to millions of rows.
 */
export const quarterHour = (col: string) => `epoch_us(${col}) // 900000000`;
export const quarterHourStart = (q: string) => `make_timestamptz(${q} * 900000000)`;

export const periodParams = (p: Period): QueryParams => ({ from: p.from, to: p.to, tz: p.timeZone });

/**
 * Landed segments holding at least one record of the period (by each gateway's sequence range
 * in the period): a segment's own open/seal times are when it was written, not what it holds.
 * Use as `FROM segments s WHERE ${SEGMENT_IN_PERIOD}`.
 */
export const SEGMENT_IN_PERIOD = `EXISTS (SELECT 1 FROM (SELECT gateway_id, min(seq) AS lo, max(seq) AS hi FROM records WHERE ${inPeriod('ts')} GROUP BY gateway_id) pr
  WHERE pr.gateway_id = s.gateway_id AND s.last_seq >= pr.lo AND s.first_seq <= pr.hi)`;
