// The control database's schema: pending approvals shared by every gateway instance (and the
// admin API). Each gateway migrates on start; migrations are numbered, applied in order, each
// once, recorded in `auditgate_schema_migrations`, and serialised by a transaction-level
// advisory lock, so two gateways starting at once neither race nor half-apply a version.
import type pg from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Channel every change is announced on; the payload is the request id. */
export const NOTIFY_CHANNEL = 'auditgate_approvals';

/**
 * pg_advisory_xact_lock key: a fixed, arbitrary 64-bit number shared by every auditgate process
 * migrating this database. Advisory locks are per database,
 * so gateways on other control databases never wait for each other.
 */
export const MIGRATION_LOCK_KEY = '6170680467517818740'; // bigint as text (pg takes it as int8)

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'approval requests and decisions',
    sql: `
CREATE TABLE auditgate_approval_requests (
  id                  uuid PRIMARY KEY,
  type                text NOT NULL CHECK (type IN ('statement', 'access')),
  status              text NOT NULL CHECK (status IN ('pending', 'approved', 'released', 'rejected', 'expired', 'withdrawn')),
  created_at          timestamptz NOT NULL DEFAULT now(),
  -- The current deadline: while pending, until when approvers may decide; once a statement
  -- request is approved, until when it may be released (approved_at + ttl_seconds).
  expires_at          timestamptz NOT NULL,
  ttl_seconds         integer NOT NULL CHECK (ttl_seconds > 0),
  requester           jsonb NOT NULL,
  requester_subject   text NOT NULL,
  requester_issuer    text NOT NULL,
  reason              text NOT NULL,
  approver_groups     text[] NOT NULL,
  required_approvals  integer NOT NULL CHECK (required_approvals >= 1),
  -- statement requests
  gateway_id          text,
  session_id          text,
  database            text,
  upstream_role       text,
  sql                 text,
  params              text[],
  statement_hash      text,
  facts               jsonb,
  -- access requests
  role                text,
  minutes             integer CHECK (minutes IS NULL OR minutes > 0),
  granted_until       timestamptz,
  -- bookkeeping
  approved_at         timestamptz,
  released_at         timestamptz,
  released_by_gateway text,
  closed_at           timestamptz,            -- when it left pending/approved for good
  closed_reason       text,                   -- withdraw reason, 'expired', 'rejected by ...'
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CHECK (type <> 'statement' OR (sql IS NOT NULL AND statement_hash IS NOT NULL)),
  CHECK (type <> 'access' OR (role IS NOT NULL AND minutes IS NOT NULL)),
  CHECK (type <> 'access' OR status <> 'released')
);
-- the expiry sweep: due pending requests, and approved statement requests never released
CREATE INDEX auditgate_approval_requests_due ON auditgate_approval_requests (expires_at)
  WHERE status = 'pending' OR (status = 'approved' AND type = 'statement');
-- retry mode: findApproved(subject, hash)
CREATE INDEX auditgate_approval_requests_approved_stmt ON auditgate_approval_requests (requester_subject, statement_hash)
  WHERE status = 'approved' AND type = 'statement';
-- activeGrants(subject)
CREATE INDEX auditgate_approval_requests_grants ON auditgate_approval_requests (requester_subject, granted_until)
  WHERE status = 'approved' AND type = 'access';
CREATE INDEX auditgate_approval_requests_status ON auditgate_approval_requests (status, created_at);

CREATE TABLE auditgate_approval_decisions (
  seq               bigserial PRIMARY KEY,
  request_id        uuid NOT NULL REFERENCES auditgate_approval_requests (id) ON DELETE CASCADE,
  approver_subject  text NOT NULL,
  approver_issuer   text NOT NULL,
  approver          jsonb NOT NULL,
  decision          text NOT NULL CHECK (decision IN ('approve', 'reject')),
  comment           text NOT NULL DEFAULT '',
  decided_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (request_id, approver_subject)
);
`,
  },
];

/** Applies the migrations this build knows and the database lacks. Returns the versions applied now. */
export async function migrate(
  client: pg.ClientBase,
  opts: { migrations?: readonly Migration[]; warn?: (msg: string, fields: Record<string, unknown>) => void } = {},
): Promise<number[]> {
  const migrations = [...(opts.migrations ?? MIGRATIONS)].sort((a, b) => a.version - b.version);
  const applied: number[] = [];
  // READ COMMITTED whatever the server's default: under REPEATABLE READ the snapshot would be
  // taken before the lock is granted, and a gateway that waited for a twin's migration would
  // not see the versions the twin just recorded (and apply them again).
  await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
  try {
    // First statement of the transaction: everything below, CREATE TABLE IF NOT EXISTS included
    // (which is not safe against a concurrent twin on its own), runs under the lock.
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS auditgate_schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM auditgate_schema_migrations');
    const have = new Set(rows.map((r) => r.version));
    for (const m of migrations) {
      if (have.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO auditgate_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    const known = migrations.at(-1)?.version ?? 0;
    const newer = [...have].filter((v) => v > known);
    if (newer.length > 0) {
      // A newer gateway migrated this database. Migrations are additive, so keep going (a rolling
      // upgrade has old and new instances side by side), but say so.
      opts.warn?.('control database schema is newer than this gateway', { known, found: Math.max(...newer) });
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  return applied;
}
