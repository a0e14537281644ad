// The control database's approval tables (schema in migrations.ts): typed reads and the
// single-statement writes that need no decision logic. Every write announces the request id on
// NOTIFY_CHANNEL in the same statement or transaction, so it reaches listeners exactly when it
// commits. Times come from the database clock (now()), never from a gateway's.
import type pg from 'pg';
import { NOTIFY_CHANNEL } from './migrations.js';
import type {
  AccessRequest,
  ApprovalRequest,
  Decision,
  RequestStatus,
  Requester,
  StatementRequest,
} from './types.js';

export type Queryable = pg.Pool | pg.ClientBase;

const REQUESTS = 'auditgate_approval_requests';
const DECISIONS = 'auditgate_approval_decisions';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids arrive from the admin API and the CLI: anything that is not a uuid cannot exist (and must not reach a ::uuid cast). */
export function isRequestId(id: string): boolean {
  return UUID.test(id);
}

/** A request row as stored (decisions separately). */
export interface RequestRow {
  id: string;
  type: 'statement' | 'access';
  status: RequestStatus;
  created_at: Date;
  expires_at: Date;
  ttl_seconds: number;
  requester: Requester;
  requester_subject: string;
  requester_issuer: string;
  reason: string;
  approver_groups: string[];
  required_approvals: number;
  gateway_id: string | null;
  session_id: string | null;
  database: string | null;
  upstream_role: string | null;
  sql: string | null;
  params: (string | null)[] | null;
  statement_hash: string | null;
  facts: unknown;
  role: string | null;
  minutes: number | null;
  granted_until: Date | null;
  approved_at: Date | null;
  released_at: Date | null;
  released_by_gateway: string | null;
  /** now() >= expires_at, computed by the database when the row was read. */
  due: boolean;
}

interface DecisionRow {
  request_id: string;
  approver: Requester;
  decision: 'approve' | 'reject';
  comment: string;
  decided_at: Date;
}

const COLUMNS = `id::text AS id, type, status, created_at, expires_at, ttl_seconds, requester, requester_subject,
  requester_issuer, reason, approver_groups, required_approvals, gateway_id, session_id, database, upstream_role,
  sql, params, statement_hash, facts, role, minutes, granted_until, approved_at, released_at, released_by_gateway,
  (expires_at <= now()) AS due`;

/** Which requests may expire: pending ones, and approved statement requests never released. */
const EXPIRABLE = `(status = 'pending' OR (status = 'approved' AND type = 'statement'))`;

const iso = (d: Date): string => d.toISOString();
const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

function toDecision(d: DecisionRow): Decision {
  return { decision: d.decision, approver: d.approver, comment: d.comment, at: iso(d.decided_at) };
}

export function toRequest(r: RequestRow, decisions: Decision[]): ApprovalRequest {
  const common = {
    id: r.id,
    status: r.status,
    created_at: iso(r.created_at),
    expires_at: iso(r.expires_at),
    requester: r.requester,
    reason: r.reason,
    approver_groups: r.approver_groups,
    required_approvals: r.required_approvals,
    decisions,
  };
  if (r.type === 'access') {
    const a: AccessRequest = {
      ...common,
      type: 'access',
      role: r.role ?? '',
      minutes: r.minutes ?? 0,
      granted_until: isoOrNull(r.granted_until),
    };
    return a;
  }
  const s: StatementRequest = {
    ...common,
    type: 'statement',
    gateway_id: r.gateway_id ?? '',
    session_id: r.session_id ?? '',
    database: r.database ?? '',
    upstream_role: r.upstream_role ?? '',
    sql: r.sql ?? '',
    params: r.params,
    statement_hash: r.statement_hash ?? '',
    facts: r.facts ?? null,
    released_at: isoOrNull(r.released_at),
    released_by_gateway: r.released_by_gateway,
  };
  return s;
}

/** Decisions of these requests, in the order they were made. */
async function decisionsOf(q: Queryable, ids: string[]): Promise<Map<string, Decision[]>> {
  const out = new Map<string, Decision[]>();
  if (ids.length === 0) return out;
  const { rows } = await q.query<DecisionRow>(
    `SELECT request_id::text AS request_id, approver, decision, comment, decided_at
       FROM ${DECISIONS} WHERE request_id = ANY($1::uuid[]) ORDER BY seq`,
    [ids],
  );
  for (const d of rows) {
    const list = out.get(d.request_id) ?? [];
    list.push(toDecision(d));
    out.set(d.request_id, list);
  }
  return out;
}

async function hydrate(q: Queryable, rows: RequestRow[]): Promise<ApprovalRequest[]> {
  const decisions = await decisionsOf(
    q,
    rows.map((r) => r.id),
  );
  return rows.map((r) => toRequest(r, decisions.get(r.id) ?? []));
}

export async function getRequest(q: Queryable, id: string): Promise<ApprovalRequest | null> {
  return (await getRequestDue(q, id))?.request ?? null;
}

/** The request, and whether it is past expires_at by the database clock (and not yet expired). */
export async function getRequestDue(q: Queryable, id: string): Promise<{ request: ApprovalRequest; due: boolean } | null> {
  if (!isRequestId(id)) return null;
  const { rows } = await q.query<RequestRow>(`SELECT ${COLUMNS} FROM ${REQUESTS} WHERE id = $1`, [id]);
  const [r] = await hydrate(q, rows);
  if (!r) return null;
  return { request: r, due: rows[0]!.due && (r.status === 'pending' || (r.status === 'approved' && r.type === 'statement')) };
}

export async function getRequests(q: Queryable, ids: string[]): Promise<ApprovalRequest[]> {
  const valid = ids.filter(isRequestId);
  if (valid.length === 0) return [];
  const { rows } = await q.query<RequestRow>(
    `SELECT ${COLUMNS} FROM ${REQUESTS} WHERE id = ANY($1::uuid[]) ORDER BY created_at, id`,
    [valid],
  );
  return hydrate(q, rows);
}

/** Locks the row for the rest of the caller's transaction (SELECT ... FOR UPDATE). */
export async function lockRequest(client: pg.ClientBase, id: string): Promise<RequestRow | null> {
  if (!isRequestId(id)) return null;
  const { rows } = await client.query<RequestRow>(`SELECT ${COLUMNS} FROM ${REQUESTS} WHERE id = $1 FOR UPDATE`, [id]);
  return rows[0] ?? null;
}

export async function listRequests(
  q: Queryable,
  filter: { status?: RequestStatus[]; type?: ApprovalRequest['type'] } = {},
): Promise<ApprovalRequest[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.status) {
    params.push(filter.status);
    where.push(`status = ANY($${params.length}::text[])`);
  }
  if (filter.type) {
    params.push(filter.type);
    where.push(`type = $${params.length}`);
  }
  const { rows } = await q.query<RequestRow>(
    `SELECT ${COLUMNS} FROM ${REQUESTS} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_at DESC, id`,
    params,
  );
  return hydrate(q, rows);
}

export interface InsertStatement {
  id: string;
  requester: Requester;
  gateway_id: string;
  session_id: string;
  database: string;
  upstream_role: string;
  sql: string;
  params: (string | null)[] | null;
  statement_hash: string;
  facts: unknown;
  reason: string;
  approver_groups: string[];
  required_approvals: number;
  ttl_seconds: number;
}

export async function insertStatementRequest(q: Queryable, r: InsertStatement): Promise<StatementRequest> {
  const { rows } = await q.query<RequestRow>(
    `WITH ins AS (
       INSERT INTO ${REQUESTS} (id, type, status, expires_at, ttl_seconds, requester, requester_subject, requester_issuer,
         reason, approver_groups, required_approvals, gateway_id, session_id, database, upstream_role, sql, params,
         statement_hash, facts)
       VALUES ($1, 'statement', 'pending', now() + make_interval(secs => $2::integer), $2::integer, $3, $4, $5, $6, $7, $8, $9, $10, $11,
         $12, $13, $14, $15, $16)
       RETURNING *)
     SELECT ${COLUMNS}, pg_notify('${NOTIFY_CHANNEL}', id::text) FROM ins`,
    [
      r.id,
      r.ttl_seconds,
      JSON.stringify(r.requester),
      r.requester.subject,
      r.requester.issuer,
      r.reason,
      r.approver_groups,
      r.required_approvals,
      r.gateway_id,
      r.session_id,
      r.database,
      r.upstream_role,
      r.sql,
      r.params,
      r.statement_hash,
      JSON.stringify(r.facts ?? null),
    ],
  );
  return toRequest(rows[0]!, []) as StatementRequest;
}

export interface InsertAccess {
  id: string;
  requester: Requester;
  role: string;
  minutes: number;
  reason: string;
  approver_groups: string[];
  required_approvals: number;
  ttl_seconds: number;
}

export async function insertAccessRequest(q: Queryable, r: InsertAccess): Promise<AccessRequest> {
  const { rows } = await q.query<RequestRow>(
    `WITH ins AS (
       INSERT INTO ${REQUESTS} (id, type, status, expires_at, ttl_seconds, requester, requester_subject, requester_issuer,
         reason, approver_groups, required_approvals, role, minutes)
       VALUES ($1, 'access', 'pending', now() + make_interval(secs => $2::integer), $2::integer, $3, $4, $5, $6, $7, $8, $9, $10)
       RETURNING *)
     SELECT ${COLUMNS}, pg_notify('${NOTIFY_CHANNEL}', id::text) FROM ins`,
    [
      r.id,
      r.ttl_seconds,
      JSON.stringify(r.requester),
      r.requester.subject,
      r.requester.issuer,
      r.reason,
      r.approver_groups,
      r.required_approvals,
      r.role,
      r.minutes,
    ],
  );
  return toRequest(rows[0]!, []) as AccessRequest;
}

/** Inside the decide transaction (row locked). False when this approver already decided. */
export async function insertDecision(
  client: pg.ClientBase,
  id: string,
  approver: Requester,
  decision: 'approve' | 'reject',
  comment: string,
): Promise<boolean> {
  const res = await client.query(
    `INSERT INTO ${DECISIONS} (request_id, approver_subject, approver_issuer, approver, decision, comment)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id, approver_subject) DO NOTHING`,
    [id, approver.subject, approver.issuer, JSON.stringify(approver), decision, comment],
  );
  return res.rowCount === 1;
}

export async function hasDecided(client: pg.ClientBase, id: string, approverSubject: string): Promise<boolean> {
  const res = await client.query(`SELECT 1 FROM ${DECISIONS} WHERE request_id = $1 AND approver_subject = $2`, [
    id,
    approverSubject,
  ]);
  return (res.rowCount ?? 0) > 0;
}

/** Distinct approvers who approved (one row per approver by the UNIQUE constraint). */
export async function countApprovals(client: pg.ClientBase, id: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${DECISIONS} WHERE request_id = $1 AND decision = 'approve'`,
    [id],
  );
  return rows[0]?.n ?? 0;
}

/** Inside the decide transaction: enough approvals. */
export async function markApproved(client: pg.ClientBase, row: RequestRow): Promise<void> {
  // A statement request gets a new deadline: it must be released within its TTL counted from
  // the approval (see service.ts). An access request is granted for `minutes` from now.
  await client.query(
    `UPDATE ${REQUESTS} SET status = 'approved', approved_at = now(), updated_at = now(),
       expires_at = CASE WHEN type = 'statement' THEN now() + make_interval(secs => ttl_seconds) ELSE expires_at END,
       granted_until = CASE WHEN type = 'access' THEN now() + make_interval(mins => minutes) ELSE NULL END
     WHERE id = $1`,
    [row.id],
  );
}

/** Inside a transaction with the row locked: a terminal status. */
export async function markClosed(
  client: pg.ClientBase,
  id: string,
  status: 'rejected' | 'withdrawn' | 'expired',
  reason: string,
): Promise<void> {
  await client.query(
    `UPDATE ${REQUESTS} SET status = $2, closed_at = now(), closed_reason = $3, updated_at = now() WHERE id = $1`,
    [id, status, reason],
  );
}

export async function notify(q: Queryable, id: string): Promise<void> {
  await q.query(`SELECT pg_notify('${NOTIFY_CHANNEL}', $1)`, [id]);
}

/**
 * Expires what is due: pending requests past expires_at, and approved statement requests not
 * released by theirs. One id (the check on read) or a batch (the sweep). Rows another
 * transaction holds are skipped in a batch (SKIP LOCKED: two instances sweeping at once never
 * deadlock and never expire the same row twice) and left to that transaction or the next sweep.
 * Returns the ids this call expired: the caller owns their 'expired' events.
 */
export async function expireDue(q: Queryable, id?: string, limit = 500): Promise<string[]> {
  if (id !== undefined && !isRequestId(id)) return [];
  const pick =
    id !== undefined
      ? `SELECT id FROM ${REQUESTS} WHERE id = $1 AND expires_at <= now() AND ${EXPIRABLE} FOR UPDATE`
      : `SELECT id FROM ${REQUESTS} WHERE expires_at <= now() AND ${EXPIRABLE}
           ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED`;
  const { rows } = await q.query<{ id: string }>(
    `WITH due AS (${pick}),
     upd AS (
       UPDATE ${REQUESTS} r SET status = 'expired', closed_at = now(), updated_at = now(),
         closed_reason = CASE WHEN r.status = 'pending' THEN 'not decided in time' ELSE 'approved but not released in time' END
       FROM due WHERE r.id = due.id AND r.expires_at <= now() AND (r.status = 'pending' OR (r.status = 'approved' AND r.type = 'statement'))
       RETURNING r.id)
     SELECT id::text AS id, pg_notify('${NOTIFY_CHANNEL}', id::text) FROM upd`,
    [id ?? limit],
  );
  return rows.map((r) => r.id);
}

/** Approved → released if the hash matches and the release window is open; true exactly once. */
export async function claimRelease(q: Queryable, id: string, statementHash: string, gatewayId: string): Promise<boolean> {
  if (!isRequestId(id)) return false;
  const { rows } = await q.query(
    `WITH upd AS (
       UPDATE ${REQUESTS} SET status = 'released', released_at = now(), released_by_gateway = $3, closed_at = now(),
         updated_at = now()
       WHERE id = $1 AND type = 'statement' AND status = 'approved' AND statement_hash = $2 AND expires_at > now()
       RETURNING id)
     SELECT pg_notify('${NOTIFY_CHANNEL}', id::text) FROM upd`,
    [id, statementHash, gatewayId],
  );
  return rows.length === 1;
}

export async function findApproved(q: Queryable, subject: string, statementHash: string): Promise<StatementRequest | null> {
  const { rows } = await q.query<RequestRow>(
    `SELECT ${COLUMNS} FROM ${REQUESTS}
      WHERE type = 'statement' AND status = 'approved' AND requester_subject = $1 AND statement_hash = $2
        AND expires_at > now()
      ORDER BY approved_at DESC, id LIMIT 1`,
    [subject, statementHash],
  );
  const [r] = await hydrate(q, rows);
  return (r as StatementRequest | undefined) ?? null;
}

export async function activeGrants(
  q: Queryable,
  subject: string,
): Promise<{ role: string; until: string; request_id: string }[]> {
  const { rows } = await q.query<{ role: string; granted_until: Date; id: string }>(
    `SELECT role, granted_until, id::text AS id FROM ${REQUESTS}
      WHERE type = 'access' AND status = 'approved' AND requester_subject = $1 AND granted_until > now()
      ORDER BY granted_until, id`,
    [subject],
  );
  return rows.map((r) => ({ role: r.role, until: iso(r.granted_until), request_id: r.id }));
}

/** The earliest deadline of anything that can still expire (for scheduling), or null. */
export async function nextDeadline(q: Queryable): Promise<Date | null> {
  const { rows } = await q.query<{ t: Date | null }>(`SELECT min(expires_at) AS t FROM ${REQUESTS} WHERE ${EXPIRABLE}`);
  return rows[0]?.t ?? null;
}
