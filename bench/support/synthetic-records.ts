// The SQL that generates the synthetic records (synthetic-evidence.ts runs it, step by step,
// in one DuckDB connection). Everything is derived from hash(seed, tag, ...) of row numbers, so
// the same seed gives the same database. Temporary tables, in order:
//   _ag_ident, _ag_tmpl  the cast and the statement templates (synthetic-catalog.ts)
//   _ag_sess             one row per accepted session
//   _ag_slot             one row per statement record (what it ran, the decision, the outcome)
//   _ag_apev             one row per approval event
//   _ag_ref              one row per refused connection
//   _ag_pool             the 32-byte values record hashes are drawn from
// and then one INSERT INTO records that numbers every record per gateway in time order.
import { createHash } from 'node:crypto';
import {
  APPROVAL_REASON,
  APPROVAL_TEMPLATE,
  APPROVER_GROUP,
  EXTENDED_PROTOCOL_APPS,
  TEMPLATES,
  type SyntheticIdentity,
} from './synthetic-catalog.js';

export const DAY_US = 86_400_000_000;
export const HOUR_US = 3_600_000_000;
const POOL = 1 << 18; // distinct 32-byte hash values the records draw from
/** What the bundles classify as sensitive: every column a template masks, with its method. */
const CLASSIFIED = [...new Map(TEMPLATES.flatMap((t) => t.masked.map((m) => [m.column, { column: m.column, method: m.method }] as const))).values()];

export const q = (s: string | null | undefined) => (s == null ? 'NULL' : `'${s.replaceAll("'", "''")}'`);

// Integer tags (hashing a string tag per row costs more than the arithmetic around it).
const TAGS = [
  'size', 'gw', 'ident', 'day', 'weekend', 'business', 'hour', 'pace', 'approval', 'broken', 'app', 'db', 'tls', 'held',
  'wait', 'end', 'superuser', 'tmpl', 'param', 'jitter', 'error', 'rows', 'duration', 'approver', 'ref', 'h',
] as const;
type Tag = (typeof TAGS)[number];

/** SQL for the seeded hashes: h() a UBIGINT, u() uniform in [0, 1). */
export function hasher(seed: number) {
  const h = (tag: Tag, ...args: string[]) => `hash(${seed}, ${TAGS.indexOf(tag) + 1}, ${args.join(', ')})`;
  return { seed, h, u: (tag: Tag, ...args: string[]) => `((${h(tag, ...args)} % 1000000)::DOUBLE / 1000000)` };
}
export type Hasher = ReturnType<typeof hasher>;

/** The identities and templates as tables, and a macro that picks a template from a hash. */
export function inputsSql(identities: SyntheticIdentity[], approvers: string[]): string[] {
  const total = TEMPLATES.reduce((s, x) => s + x.weight, 0);
  let upto = 0;
  const bounds = TEMPLATES.map((x, i) => ({ i, weight: x.weight, hi: (upto += x.weight) })).filter((b) => b.weight > 0);
  return [
    `CREATE TEMP TABLE _ag_ident AS SELECT * FROM (VALUES ${identities
      .map((i) => `(${[i.index, q(i.subject), q(i.issuer), q(i.kind), q(JSON.stringify(i.groups)), q(i.role), q(i.model), q(i.repository), `[${i.applications.map(q).join(', ')}]`, i.role !== 'auditgate_reader', i.groups.includes(APPROVER_GROUP)].join(', ')})`)
      .join(', ')}) v(ident, subject, issuer, identity_kind, groups, role, model, repository, apps, can_write, is_dba)`,
    `CREATE TEMP TABLE _ag_tmpl AS SELECT * FROM (VALUES ${TEMPLATES.map((x, i) => {
      // The masked columns in the gateway's array form, '#' standing for the count (one value per row).
      const masked = x.masked.length ? JSON.stringify(x.masked.map((m) => ({ ...m, count: 0 }))).replaceAll('"count":0', '"count":#') : null;
      return `(${[
        i, q(x.sql), q(x.statementKind), q(x.commandTag), q(JSON.stringify(x.tables)), q(JSON.stringify(x.functions)), q(fingerprint(x.sql)),
        q(x.rule), q(x.denyReason ? JSON.stringify([x.denyReason]) : '[]'), x.rows[0], x.rows[1], x.maxDurationUs,
        q(masked), x.masked.length, q(x.detector ? `{"${x.detector}":#}` : null), q(x.error?.sqlstate), x.error?.rate ?? 0, x.privileged,
      ].join(', ')})`;
    }).join(', ')}) v(t, sql, statement_kind, command_tag, tables, functions, fingerprint, rule, deny_reasons, rows_min, rows_max, max_dur, masked, masked_columns, detector, err_code, err_rate, privileged)`,
    `CREATE TEMP MACRO ag_template(x) AS CASE ${bounds.map((b) => `WHEN x < ${b.hi} THEN ${b.i}`).join(' ')} END`,
    `CREATE TEMP MACRO ag_template_weight() AS ${total}`,
    `CREATE TEMP MACRO ag_approver(i) AS ([${approvers.map(q).join(', ')}])[(i)::BIGINT + 1]`,
  ];
}

/** A libpg_query-like fingerprint (16 hex digits), stable per template. */
function fingerprint(sql: string): string {
  let h = 0xcbf29ce484222325n;
  for (const ch of sql) h = BigInt.asUintN(64, (h ^ BigInt(ch.codePointAt(0)!)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}

const uuidFrom = (md5: string, variant: string) =>
  `substr(${md5}, 1, 8) || '-' || substr(${md5}, 9, 4) || '-4' || substr(${md5}, 14, 3) || '-${variant}' || substr(${md5}, 18, 3) || '-' || substr(${md5}, 21, 12)`;

/**
 * Sessions: 10..90 statements (the last one cut so the total is exact), a gateway, an
 * identity, a start (weekdays and business hours mostly; some nights and weekends), a pace,
 * and for a fifth of the sessions that may write one statement held for approval. DBAs use the
 * superuser role now and then.
 */
export function sessionsSql(H: Hasher, a: { N: number; D: number; G: number; I: number; startUs: number; startDow: number }): string {
  const { N, D } = a;
  return `CREATE TEMP TABLE _ag_sess AS
  WITH c AS (
    SELECT range AS sid, (10 + ${H.h('size', 'range')} % 81)::BIGINT AS size0 FROM range(${Math.ceil(N / 10) + 1})
  ), c2 AS (
    SELECT sid, size0, coalesce(sum(size0) OVER (ORDER BY sid ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::BIGINT AS before FROM c
  ), b AS (
    SELECT sid, least(size0, ${N} - before) AS size,
      (${H.h('gw', 'sid')} % ${a.G})::INTEGER AS gw,
      (${H.h('ident', 'sid')} % ${a.I})::INTEGER AS ident,
      floor(${H.u('day', 'sid')} * ${D})::BIGINT AS d0,
      ${H.u('weekend', 'sid')} < 0.8 AS avoid_weekend,
      ${H.u('business', 'sid')} < 0.85 AS business,
      ${H.u('hour', 'sid')} AS hu
    FROM c2 WHERE before < ${N}
  ), d AS (
    -- Most sessions that fell on a weekend move to the Friday before or the Monday after.
    SELECT *, greatest(0, least(${D - 1}, CASE
      WHEN avoid_weekend AND (${a.startDow} + d0) % 7 = 6 THEN CASE WHEN d0 >= 1 THEN d0 - 1 ELSE d0 + 2 END
      WHEN avoid_weekend AND (${a.startDow} + d0) % 7 = 0 THEN CASE WHEN d0 + 1 < ${D} THEN d0 + 1 ELSE d0 - 2 END
      ELSE d0 END)) AS day
    FROM b
  ), s AS (
    SELECT d.sid, d.size, d.gw, d.ident, i.subject, i.issuer, i.identity_kind, i.groups, i.can_write, i.is_dba,
      CASE WHEN i.is_dba AND ${H.u('superuser', 'd.sid')} < 0.03 THEN 'auditgate_superuser' ELSE i.role END AS upstream_role,
      -- Business hours 08:00-18:00 UTC; the rest anywhere in 00:00-22:00 (a session ends the day it starts).
      ${a.startUs} + d.day * ${DAY_US} + (CASE WHEN d.business THEN ${8 * HOUR_US} + d.hu * ${10 * HOUR_US} ELSE d.hu * ${22 * HOUR_US} END)::BIGINT AS start_us,
      (CASE WHEN i.identity_kind = 'agent' THEN 300000 + ${H.u('pace', 'd.sid')} * 2700000 ELSE 2000000 + ${H.u('pace', 'd.sid')} * 28000000 END)::BIGINT AS spacing,
      -- Writes held for approval come from roles that may write once approved (a reader's would fail upstream).
      d.size >= 2 AND i.can_write AND ${H.u('approval', 'd.sid')} < 0.2 AS has_appr,
      ${H.u('broken', 'd.sid')} < 0.005 AS broken,
      i.apps[1 + (${H.h('app', 'd.sid')} % len(i.apps))::INTEGER] AS application_name,
      CASE WHEN ${H.u('db', 'd.sid')} < 0.7 THEN 'shop' ELSE 'billing' END AS database,
      ${H.u('tls', 'd.sid')} < 0.97 AS tls,
      CASE WHEN i.identity_kind = 'agent'
        THEN '{"model":"' || i.model || '","repository":"' || i.repository || '","ticket":"OPS-' || (1000 + d.sid % 700) || '"}'
        ELSE '{}' END AS claims,
      CASE WHEN i.identity_kind = 'agent' THEN '10.20.' || (d.ident % 250) || '.' || (10 + d.sid % 200) ELSE '10.8.0.' || (10 + d.ident % 240) END AS client_addr,
      md5('session:${H.seed}:' || d.sid) AS m, md5('approval:${H.seed}:' || d.sid) AS am
    FROM d JOIN _ag_ident i ON i.ident = d.ident
  ), o AS (
    SELECT *, CASE WHEN has_appr THEN row_number() OVER (PARTITION BY has_appr ORDER BY sid) END AS appr_ord FROM s
  )
  SELECT * EXCLUDE (m, am),
    ${uuidFrom('m', 'a')} AS session_id,
    CASE WHEN has_appr THEN ${uuidFrom('am', 'b')} END AS approval_id,
    application_name IN (${[...EXTENDED_PROTOCOL_APPS].map(q).join(', ')}) AS extended,
    CASE WHEN has_appr THEN 1 + (${H.h('held', 'sid')} % (size - 1))::BIGINT END AS kh,
    -- Outcomes in a fixed rotation, so even a small database has each: 6 in 10 approved (2 of
    -- them by two approvers), 2 rejected, 1 expired, 1 withdrawn.
    CASE appr_ord % 10 WHEN 2 THEN 'rejected' WHEN 9 THEN 'rejected' WHEN 4 THEN 'expired' WHEN 6 THEN 'withdrawn' ELSE 'approved' END AS outcome,
    CASE WHEN appr_ord % 10 IN (3, 8) THEN 2 ELSE 1 END AS required_approvals,
    CASE WHEN NOT has_appr THEN 0
      WHEN appr_ord % 10 = 4 THEN 900000000
      WHEN appr_ord % 10 = 6 THEN (10000000 + ${H.u('wait', 'sid')} * 110000000)::BIGINT
      ELSE (30000000 + ${H.u('wait', 'sid')} * 1170000000)::BIGINT END AS wait_us,
    CASE WHEN broken THEN 'upstream closed' WHEN ${H.u('end', 'sid')} < 0.1 THEN 'client terminated' ELSE 'client closed' END AS end_reason
  FROM o`;
}

/**
 * One row per statement record. A held statement (slot kh) is followed by its release (slot
 * kh + 1, the same SQL) when the approval was granted; the session waits for the decision, so
 * every later statement is shifted by the wait. In a session each statement ends before the
 * next begins (jitter and duration each stay under a quarter of the pace).
 */
export function slotsSql(H: Hasher): string {
  return `CREATE TEMP TABLE _ag_slot AS
  WITH x AS (
    SELECT sid, gw, size, start_us, spacing, has_appr, kh, outcome, wait_us, broken, can_write, is_dba, identity_kind, upstream_role,
      unnest(range(1, size + 1)) AS k
    FROM _ag_sess
  ), y AS (
    SELECT *,
      CASE WHEN has_appr AND k = kh THEN 1 WHEN has_appr AND outcome = 'approved' AND k = kh + 1 THEN 2 ELSE 0 END AS slot_role
    FROM x
  ), z AS (
    SELECT *,
      CASE WHEN slot_role > 0 THEN ${APPROVAL_TEMPLATE} + (sid % 2)::INTEGER ELSE ag_template(${H.h('tmpl', 'sid', 'k')} % ag_template_weight()) END AS t,
      (${H.h('param', 'sid', 'CASE WHEN slot_role = 2 THEN k - 1 ELSE k END')} % 100000)::BIGINT AS p,
      start_us + k * spacing + CASE WHEN has_appr AND k > kh THEN wait_us ELSE 0 END + (${H.u('jitter', 'sid', 'k')} * spacing / 4)::BIGINT AS ts
    FROM y
  ), dd AS (
    SELECT z.*, tm.err_code AS tmpl_err, tm.err_rate, tm.rows_min, tm.rows_max, tm.max_dur, tm.masked_columns, tm.masked IS NOT NULL AS masks, tm.privileged,
      CASE slot_role WHEN 1 THEN 2 WHEN 2 THEN 3 ELSE
        CASE WHEN (tm.rule = 'writer' AND NOT z.can_write) OR (tm.rule = 'dba' AND NOT z.is_dba) OR (tm.rule = 'human' AND z.identity_kind <> 'human') THEN 1 ELSE 0 END
      END::TINYINT AS dec
    FROM z JOIN _ag_tmpl tm ON tm.t = z.t
  ), ex AS (
    SELECT *, dec IN (0, 3) AND NOT (broken AND k = size) AS executed, ${H.u('error', 'sid', 'k')} AS ue FROM dd
  ), er AS (
    SELECT *, CASE WHEN NOT executed THEN NULL WHEN ue < err_rate THEN tmpl_err WHEN ue > 0.998 THEN '57014' END AS err FROM ex
  )
  SELECT sid, k, gw, ts, t, p, slot_role, dec, executed, err, masks, masked_columns, privileged, upstream_role,
    CASE WHEN executed AND err IS NULL THEN rows_min + (${H.h('rows', 'sid', 'k')} % (rows_max - rows_min + 1))::BIGINT END AS "rows",
    CASE WHEN executed THEN 150 + (${H.u('duration', 'sid', 'k')} * least(spacing / 4, max_dur))::BIGINT END AS dur
  FROM er`;
}

/**
 * Approval events of each held statement, in proxy/server.ts approvalRecord's shape:
 * requested; then approved (one per approver) and granted, and released just before the
 * release statement; or rejected, expired (after the TTL) or withdrawn.
 */
export function approvalEventsSql(H: Hasher, approvers: number): string {
  return `CREATE TEMP TABLE _ag_apev AS
  WITH a AS (
    SELECT s.*, sl.ts AS held_ts, sl.p, sl.t, md5('statement:${H.seed}:' || s.sid) AS sh, (${H.h('approver', 's.sid')} % ${approvers})::BIGINT AS a0
    FROM _ag_sess s JOIN _ag_slot sl ON sl.sid = s.sid AND sl.k = s.kh
    WHERE s.has_appr
  ), who AS (
    -- Approvers other than the requester (the service enforces separation of duties).
    SELECT *, CASE WHEN ag_approver(a0) = subject THEN (a0 + 1) % ${approvers} ELSE a0 END AS a1 FROM a
  ), who2 AS (
    SELECT *, CASE WHEN ag_approver((a1 + 1) % ${approvers}) = subject THEN (a1 + 2) % ${approvers} ELSE (a1 + 1) % ${approvers} END AS a2 FROM who
  ), ev AS (
    SELECT who2.*, unnest(CASE
      WHEN outcome = 'approved' AND required_approvals = 2 THEN [
        {'ev': 1, 'event': 'requested', 'off': 1000, 'by': NULL, 'status': 'pending'},
        {'ev': 2, 'event': 'approved', 'off': wait_us // 2, 'by': ag_approver(a1), 'status': 'pending'},
        {'ev': 3, 'event': 'approved', 'off': wait_us * 4 // 5, 'by': ag_approver(a2), 'status': 'approved'},
        {'ev': 4, 'event': 'granted', 'off': wait_us * 4 // 5 + 1, 'by': NULL, 'status': 'approved'},
        {'ev': 5, 'event': 'released', 'off': wait_us + spacing // 2, 'by': NULL, 'status': 'released'}]
      WHEN outcome = 'approved' THEN [
        {'ev': 1, 'event': 'requested', 'off': 1000, 'by': NULL, 'status': 'pending'},
        {'ev': 2, 'event': 'approved', 'off': wait_us * 4 // 5, 'by': ag_approver(a1), 'status': 'approved'},
        {'ev': 3, 'event': 'granted', 'off': wait_us * 4 // 5 + 1, 'by': NULL, 'status': 'approved'},
        {'ev': 4, 'event': 'released', 'off': wait_us + spacing // 2, 'by': NULL, 'status': 'released'}]
      WHEN outcome = 'rejected' THEN [
        {'ev': 1, 'event': 'requested', 'off': 1000, 'by': NULL, 'status': 'pending'},
        {'ev': 2, 'event': 'rejected', 'off': wait_us, 'by': ag_approver(a1), 'status': 'rejected'}]
      ELSE [
        {'ev': 1, 'event': 'requested', 'off': 1000, 'by': NULL, 'status': 'pending'},
        {'ev': 2, 'event': outcome, 'off': wait_us, 'by': NULL, 'status': outcome}]
      END) AS e
    FROM who2
  )
  SELECT sid, gw, kh, p, t, held_ts + e.off AS ts, e.ev AS ev, e.event AS event,
    json_object(
      'event', e.event, 'type', 'statement', 'status', e.status, 'by', e.by,
      'by_groups', CASE WHEN e.by IS NOT NULL THEN ['${APPROVER_GROUP}'] END,
      'comment', CASE WHEN e.event = 'rejected' THEN 'use a soft delete' WHEN e.event = 'approved' THEN 'ok, ticket checked' END,
      'approvers', ['${APPROVER_GROUP}'], 'required_approvals', required_approvals, 'reason', '${APPROVAL_REASON}',
      'ttl_seconds', 900, 'expires_at', strftime(make_timestamp(held_ts + 900000000), '%Y-%m-%dT%H:%M:%S.%gZ'),
      'statement_hash', sh || md5(sh), 'role', NULL, 'minutes', NULL, 'granted_until', NULL,
      'released_by_gateway', CASE WHEN e.event = 'released' THEN 'gw-' || (gw + 1) END
    )::VARCHAR AS detail
  FROM ev`;
}

/** Refused connections (~1 per 100 sessions): even ones an invalid token (28P01), odd ones the connect policy (28000). */
export function refusalsSql(H: Hasher, a: { D: number; G: number; I: number; startUs: number }): string {
  return `CREATE TEMP TABLE _ag_ref AS
  SELECT range AS rid, (${H.h('ref', 'range', '1')} % ${a.G})::INTEGER AS gw,
    ${a.startUs} + (${H.u('ref', 'range', '2')} * ${a.D * DAY_US - HOUR_US})::BIGINT AS ts,
    (${H.h('ref', 'range', '3')} % ${a.I})::INTEGER AS ident
  FROM range((SELECT greatest(1, round(count(*) / 100))::BIGINT FROM _ag_sess))`;
}

export function hashPoolSql(H: Hasher): string {
  return `CREATE TEMP TABLE _ag_pool AS SELECT range AS i, unhex(sha256('${H.seed}:' || range)) AS h FROM range(${POOL})`;
}

/**
 * One gateway's records, numbered in time order (seq), with prev_hash the hash of the record
 * before, every column as the gateway writes it for that kind. One INSERT per gateway, ordered,
 * so the rows are stored in (gateway, seq) order as collect lands them, segment by segment
 * (zone maps on ts and seq then work as they do on real evidence). `sub` is the record's kind:
 * 0 bundle_loaded, 1 session_start, 2 statement, 3 statement_end, 4 approval, 5 session_end,
 * 6 refused connection (a session_start). Joins to one kind's table use a key that is NULL
 * for other kinds: a plain condition on the kind in the ON clause makes DuckDB loop instead of hash.
 */
export function recordsSql(H: Hasher, a: { gateway: number; G: number; startUs: number; switchUs: number; bundles: string[] }): string {
  const bundle = `CASE WHEN n.ts < ${a.switchUs} THEN '${a.bundles[0]}' ELSE '${a.bundles[1]}' END`;
  // As proxy/server.ts records a load: the manifest, the gateway build in force (upgraded with the
  // second bundle) and the columns the bundle classifies (the ones the templates mask).
  const manifest = (rev: number) =>
    q(
      JSON.stringify({
        source: 'policies/dist/auditgate.tar.gz',
        manifest: { revision: `rev-${rev}`, roots: ['auditgate'] },
        gateway: { version: `0.${rev - 40}.0`, node: 'v20.19.0', code_sha256: createHash('sha256').update(`gateway-build-${H.seed}-${rev}`).digest('hex') },
        classification: CLASSIFIED,
      }),
    );
  const none = 'NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL::VARCHAR, NULL::VARCHAR';
  const sess = 'n.sub IN (1, 2, 3, 4, 5)';
  const who = 'n.sub IN (1, 2, 4)';
  const policyRefusal = 'n.sub = 6 AND n.ev % 2 = 1';
  return `INSERT INTO records
  WITH u AS (
    SELECT gw, ts, sid, k, 2::TINYINT AS sub, 0::BIGINT AS ev, t, p, dec, "rows", dur, err, masks, NULL::VARCHAR AS event, NULL::VARCHAR AS adetail FROM _ag_slot
    UNION ALL SELECT gw, ts + dur, sid, k, 3, 0, t, p, dec, "rows", dur, err, masks, NULL, NULL FROM _ag_slot WHERE executed
    UNION ALL SELECT gw, start_us, sid, 0, 1, 0, ${none} FROM _ag_sess
    UNION ALL SELECT gw, start_us + (size + 1) * spacing + wait_us, sid, size + 1, 5, 0, ${none} FROM _ag_sess
    UNION ALL SELECT gw, ts, sid, kh, 4, ev, t, p, NULL, NULL, NULL, NULL, NULL, event, detail FROM _ag_apev
    UNION ALL SELECT gw, ts, -1, 0, 6, rid, ident, ${none.split(', ').slice(1).join(', ')} FROM _ag_ref
    UNION ALL SELECT range, ${a.startUs} + range * 1000000, -1, 0, 0, 0, ${none} FROM range(${a.G})
    UNION ALL SELECT range, ${a.switchUs} + range * 1000000, -1, 0, 0, 1, ${none} FROM range(${a.G})
  ), n AS (
    SELECT u.*, row_number() OVER (ORDER BY ts, sid, k, sub, ev) AS seq FROM u WHERE gw = ${a.gateway}
  )
  SELECT
    n.seq,
    CASE n.sub WHEN 0 THEN 'bundle_loaded' WHEN 1 THEN 'session_start' WHEN 2 THEN 'statement' WHEN 3 THEN 'statement_end'
      WHEN 4 THEN 'approval' WHEN 5 THEN 'session_end' ELSE 'session_start' END AS kind,
    make_timestamp(n.ts)::TIMESTAMPTZ AS ts,
    'gw-' || (n.gw + 1) AS gateway_id,
    CASE WHEN ${sess} THEN s.session_id END AS session_id,
    CASE WHEN n.sub IN (2, 3) THEN n.k END AS statement_id,
    CASE WHEN n.seq = 1 THEN unhex('${'00'.repeat(32)}') ELSE ph.h END AS prev_hash,
    hh.h AS hash,
    CASE WHEN ${sess} THEN s.subject WHEN ${policyRefusal} THEN ri.subject END AS subject,
    CASE WHEN ${who} THEN s.issuer WHEN ${policyRefusal} THEN ri.issuer END AS issuer,
    CASE WHEN ${who} THEN s.identity_kind WHEN ${policyRefusal} THEN ri.identity_kind END AS identity_kind,
    CASE WHEN ${who} THEN s.groups WHEN ${policyRefusal} THEN ri.groups END AS groups,
    CASE WHEN ${who} THEN s.claims WHEN ${policyRefusal} THEN '{}' END AS claims,
    CASE WHEN n.sub IN (1, 2) THEN s.client_addr WHEN n.sub = 6 THEN '198.51.100.' || (10 + n.ev % 200) END AS client_addr,
    CASE WHEN n.sub IN (1, 2) THEN s.application_name WHEN ${policyRefusal} THEN 'psql' END AS application_name,
    CASE WHEN ${who} THEN s.database WHEN ${policyRefusal} THEN 'billing' END AS database,
    CASE WHEN ${who} THEN s.upstream_role END AS upstream_role,
    CASE WHEN n.sub IN (2, 4) THEN replace(tm.sql, '$P', n.p::VARCHAR) END AS sql,
    CASE WHEN n.sub = 2 THEN tm.fingerprint END AS fingerprint,
    CASE WHEN n.sub = 2 THEN CASE WHEN s.extended THEN 'extended' ELSE 'simple' END END AS protocol,
    CASE WHEN n.sub = 2 THEN tm.statement_kind END AS statement_kind,
    CASE WHEN n.sub = 2 THEN tm.command_tag END AS command_tag,
    CASE WHEN n.sub = 2 THEN tm.tables END AS tables,
    CASE WHEN n.sub = 2 THEN tm.functions END AS functions,
    CASE WHEN n.sub = 2 AND s.extended THEN lower(hex(pp.h)) END AS params_sha256,
    CASE n.sub WHEN 1 THEN 'allow' WHEN 6 THEN 'deny' WHEN 4 THEN n.event
      WHEN 2 THEN CASE n.dec WHEN 0 THEN 'allow' WHEN 1 THEN 'deny' WHEN 2 THEN 'approval_required' ELSE 'approved' END END AS decision,
    CASE n.sub WHEN 1 THEN '[]'
      WHEN 6 THEN CASE WHEN n.ev % 2 = 0 THEN '["invalid token: signature verification failed"]' ELSE '["billing needs a ticket claim outside business hours"]' END
      WHEN 4 THEN '["${APPROVAL_REASON}"]'
      WHEN 2 THEN CASE n.dec WHEN 1 THEN tm.deny_reasons WHEN 2 THEN '["approval required: ${APPROVAL_REASON}"]' ELSE '[]' END END AS reasons,
    CASE WHEN n.sub IN (0, 1, 2, 6) THEN ${bundle} END AS bundle_sha256,
    CASE WHEN n.sub = 4 OR (n.sub = 2 AND n.dec IN (2, 3)) THEN s.approval_id END AS approval_id,
    CASE WHEN n.sub = 3 THEN n."rows" END AS "rows",
    CASE WHEN n.sub = 3 THEN n.dur WHEN n.sub = 5 THEN n.ts - s.start_us END AS duration_us,
    CASE WHEN n.sub = 3 AND n.masks AND n."rows" > 0 THEN replace(tm.masked, '#', n."rows"::VARCHAR) END AS masked,
    CASE WHEN n.sub = 3 AND tm.detector IS NOT NULL AND n."rows" > 0 THEN replace(tm.detector, '#', n."rows"::VARCHAR) END AS detector_hits,
    CASE WHEN n.sub = 3 THEN n.err WHEN n.sub = 6 THEN CASE WHEN n.ev % 2 = 0 THEN '28P01' ELSE '28000' END END AS error_sqlstate,
    CASE n.sub
      WHEN 0 THEN CASE n.ev WHEN 0 THEN ${manifest(41)} ELSE ${manifest(42)} END
      WHEN 1 THEN '{"tls":' || s.tls || ',"read_only":' || (s.upstream_role = 'auditgate_reader') || ',"max_session_seconds":'
        || CASE WHEN s.identity_kind = 'agent' THEN 3600 ELSE 28800 END || ',"target":"prod","environment":"production"}'
      WHEN 4 THEN n.adetail
      WHEN 5 THEN '{"reason":"' || s.end_reason || '","statements":' || s.size || '}'
      WHEN 6 THEN CASE WHEN n.ev % 2 = 0 THEN '{"user":"agent","tls":false}' ELSE '{"user":"' || ri.role || '","tls":true}' END
    END AS detail
  FROM n
  JOIN _ag_pool hh ON hh.i = ${H.h('h', 'n.gw', 'n.seq')} % ${POOL}
  LEFT JOIN _ag_pool ph ON ph.i = ${H.h('h', 'n.gw', 'n.seq - 1')} % ${POOL}
  LEFT JOIN _ag_pool pp ON pp.i = CASE WHEN n.sub = 2 THEN n.p END
  LEFT JOIN _ag_sess s ON s.sid = n.sid
  LEFT JOIN _ag_tmpl tm ON tm.t = CASE WHEN n.sub IN (2, 3, 4) THEN n.t END
  LEFT JOIN _ag_ident ri ON ri.ident = CASE WHEN n.sub = 6 THEN n.t END
  ORDER BY n.seq`;
}
