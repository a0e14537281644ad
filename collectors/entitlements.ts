// Entitlements collector: who *can* access what, read from the PostgreSQL catalog and landed
// as one dated snapshot in the evidence database (collectors/schema/entitlements.ts).
//
// Each catalog query is streamed (pg-query-stream) into a DuckDB appender, so a catalog of any
// size lands in bounded memory. The snapshot lands in one DuckDB transaction: all or nothing.
// Each database is read in one REPEATABLE READ READ ONLY transaction: one consistent view of
// its catalog, and the collector cannot write to the server.
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import { LandingError, TableAppender, TIMESTAMP_INFINITY, TIMESTAMP_MINUS_INFINITY, datedId, inTransaction, type Cell, type TableDef } from './duck-append.js';
import type { EvidenceDb } from './evidence-db.js';
import {
  ENTITLEMENT_TABLES,
  entDefaultPrivileges,
  entMemberships,
  entPrivileges,
  entRlsPolicies,
  entRoles,
  entitlementSnapshots,
} from './schema/entitlements.js';

export interface CollectEntitlementsOptions {
  /** postgres://user@host:port/database; a password in it is used, never stored or printed. */
  postgres: string;
  db: EvidenceDb;
  /** Also read every other database of the server the user may connect to. */
  allDatabases?: boolean;
  onProgress?: (message: string) => void;
  now?: Date;
}

export type EntitlementTable = 'ent_roles' | 'ent_memberships' | 'ent_privileges' | 'ent_default_privileges' | 'ent_rls_policies';

export interface EntitlementsResult {
  snapshotId: string;
  takenAt: Date;
  /** host:port/database: no credentials. */
  source: string;
  databases: string[];
  skippedDatabases: string[];
  counts: Record<EntitlementTable, number>;
}

export class EntitlementsError extends Error {
  override name = 'EntitlementsError';
}

// ---- the catalog queries -------------------------------------------------------------------

const GRANTEE = `CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END`;
const GRANTOR = `pg_catalog.pg_get_userbyid(a.grantor)::text`;
// Catalog and per-session schemas are PostgreSQL's own: their hundreds of PUBLIC grants are noise.
const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast$|temp_|toast_temp_)'`;

// Owners' implicit privileges: an object whose ACL is NULL has never been granted on, and
// PostgreSQL then applies acldefault(type, owner): the owner holds every privilege of the
// type, and PUBLIC holds its defaults (CONNECT and TEMPORARY on databases, EXECUTE on
// functions). We explode that default ACL too and mark its rows builtin_default. Once an
// ACL exists, the owner's own entry is explicit in it (and may have been revoked).
const objectAcl = (acl: string, type: string, owner: string) => `aclexplode(coalesce(${acl}, acldefault(${type}, ${owner})))`;

const ROLES_SQL = `
SELECT r.rolname::text, r.oid::bigint, r.rolcanlogin, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
       r.rolreplication, r.rolinherit,
       CASE WHEN r.rolvaliduntil IS NULL THEN NULL
            WHEN isfinite(r.rolvaliduntil) THEN (extract(epoch FROM r.rolvaliduntil) * 1000000)::bigint::text
            WHEN r.rolvaliduntil > 'epoch' THEN 'infinity' ELSE '-infinity' END,
       r.rolconnlimit
FROM pg_catalog.pg_roles r`;

const membershipsSql = (v16: boolean) => `
SELECT pg_catalog.pg_get_userbyid(m.roleid)::text, pg_catalog.pg_get_userbyid(m.member)::text, m.admin_option,
       ${v16 ? 'm.inherit_option, m.set_option' : 'NULL::boolean, NULL::boolean'},
       pg_catalog.pg_get_userbyid(m.grantor)::text
FROM pg_catalog.pg_auth_members m`;

// ent_privileges columns after the snapshot's: grantee, object_type, database, schema_name,
// object_name, column_name, privilege, grantable, grantor, object_owner, builtin_default.
const DATABASE_PRIVS_SQL = `
SELECT ${GRANTEE}, 'database', d.datname::text, NULL, d.datname::text, NULL, a.privilege_type, a.is_grantable, ${GRANTOR},
       pg_catalog.pg_get_userbyid(d.datdba)::text, d.datacl IS NULL
FROM pg_catalog.pg_database d CROSS JOIN LATERAL ${objectAcl('d.datacl', `'d'`, 'd.datdba')} a`;

const SCHEMA_PRIVS_SQL = `
SELECT ${GRANTEE}, 'schema', current_database()::text, n.nspname::text, n.nspname::text, NULL, a.privilege_type, a.is_grantable,
       ${GRANTOR}, pg_catalog.pg_get_userbyid(n.nspowner)::text, n.nspacl IS NULL
FROM pg_catalog.pg_namespace n CROSS JOIN LATERAL ${objectAcl('n.nspacl', `'n'`, 'n.nspowner')} a
WHERE n.nspname !~ '^pg_(toast$|temp_|toast_temp_)'`;

const RELATION_PRIVS_SQL = `
SELECT ${GRANTEE}, CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' ELSE 'table' END,
       current_database()::text, n.nspname::text, c.relname::text, NULL, a.privilege_type, a.is_grantable, ${GRANTOR},
       pg_catalog.pg_get_userbyid(c.relowner)::text, c.relacl IS NULL
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL ${objectAcl('c.relacl', `(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char"`, 'c.relowner')} a
WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND ${USER_SCHEMA}`;

// Column ACLs have no default: a column grant exists only when made. Table-level grants
// cover every column and are not repeated here.
const COLUMN_PRIVS_SQL = `
SELECT ${GRANTEE}, 'column', current_database()::text, n.nspname::text, c.relname::text, att.attname::text, a.privilege_type,
       a.is_grantable, ${GRANTOR}, pg_catalog.pg_get_userbyid(c.relowner)::text, false
FROM pg_catalog.pg_attribute att JOIN pg_catalog.pg_class c ON c.oid = att.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(att.attacl) a
WHERE att.attacl IS NOT NULL AND att.attnum > 0 AND NOT att.attisdropped AND ${USER_SCHEMA}`;

const FUNCTION_PRIVS_SQL = `
SELECT ${GRANTEE}, 'function', current_database()::text, n.nspname::text,
       p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')', NULL, a.privilege_type, a.is_grantable,
       ${GRANTOR}, pg_catalog.pg_get_userbyid(p.proowner)::text, p.proacl IS NULL
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
CROSS JOIN LATERAL ${objectAcl('p.proacl', `'f'`, 'p.proowner')} a
WHERE ${USER_SCHEMA}`;

const DEFAULT_PRIVS_SQL = `
SELECT current_database()::text, pg_catalog.pg_get_userbyid(d.defaclrole)::text, n.nspname::text,
       CASE d.defaclobjtype WHEN 'r' THEN 'table' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'function' WHEN 'T' THEN 'type'
            WHEN 'n' THEN 'schema' ELSE d.defaclobjtype::text END,
       ${GRANTEE}, a.privilege_type, a.is_grantable, ${GRANTOR}
FROM pg_catalog.pg_default_acl d LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL aclexplode(d.defaclacl) a`;

// Tables with RLS on but no policy get one row with a NULL policy: they deny by default.
const RLS_SQL = `
SELECT current_database()::text, n.nspname::text, c.relname::text, pg_catalog.pg_get_userbyid(c.relowner)::text,
       c.relrowsecurity, c.relforcerowsecurity, p.polname::text,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' WHEN '*' THEN 'ALL' END,
       CASE WHEN p.oid IS NOT NULL THEN ARRAY(
         SELECT CASE r WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r)::text END FROM unnest(p.polroles) r ORDER BY 1) END,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), p.polpermissive
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_policy p ON p.polrelid = c.oid
WHERE p.oid IS NOT NULL OR c.relrowsecurity OR c.relforcerowsecurity`;

interface CatalogQuery {
  what: string;
  catalog: string;
  sql: string;
  table: TableDef;
  map?: (row: unknown[]) => Cell[];
}

const VALID_UNTIL = 9; // index of valid_until in ROLES_SQL's row
function roleRow(row: unknown[]): Cell[] {
  const v = row[VALID_UNTIL];
  const out = row.slice() as Cell[];
  out[VALID_UNTIL] = v === 'infinity' ? TIMESTAMP_INFINITY : v === '-infinity' ? TIMESTAMP_MINUS_INFINITY : v === null ? null : BigInt(v as string);
  return out;
}

const clusterQueries = (v16: boolean): CatalogQuery[] => [
  { what: 'roles', catalog: 'pg_roles', sql: ROLES_SQL, table: entRoles, map: roleRow },
  { what: 'role memberships', catalog: 'pg_auth_members', sql: membershipsSql(v16), table: entMemberships },
  { what: 'database privileges', catalog: 'pg_database', sql: DATABASE_PRIVS_SQL, table: entPrivileges },
];

const databaseQueries: CatalogQuery[] = [
  { what: 'schema privileges', catalog: 'pg_namespace', sql: SCHEMA_PRIVS_SQL, table: entPrivileges },
  { what: 'table, view and sequence privileges', catalog: 'pg_class', sql: RELATION_PRIVS_SQL, table: entPrivileges },
  { what: 'column privileges', catalog: 'pg_attribute', sql: COLUMN_PRIVS_SQL, table: entPrivileges },
  { what: 'function privileges', catalog: 'pg_proc', sql: FUNCTION_PRIVS_SQL, table: entPrivileges },
  { what: 'default privileges', catalog: 'pg_default_acl', sql: DEFAULT_PRIVS_SQL, table: entDefaultPrivileges },
  { what: 'row-level security policies', catalog: 'pg_policy', sql: RLS_SQL, table: entRlsPolicies },
];

// ---- connections ---------------------------------------------------------------------------

interface Target {
  url: URL;
  secrets: string[];
}

function parseTarget(raw: string): Target {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // The URL may hold a password: never echo it.
    throw new EntitlementsError('--postgres is not a URL: expected postgres://user@host:port/database (a password is better given in PGPASSWORD)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new EntitlementsError(`--postgres must be a postgres:// or postgresql:// URL (got a ${url.protocol.replace(/:$/, '')}: URL)`);
  }
  const secrets = [url.password, safeDecode(url.password), url.searchParams.get('password') ?? ''].filter((s) => s.length > 0);
  return { url, secrets };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** host:port/database as pg resolved them (env and defaults included): no credentials. */
const describeClient = (c: pg.Client) => `${c.host}:${c.port}/${c.database}`;

function scrub(text: string, t: Target): string {
  let out = text;
  for (const s of t.secrets) out = out.split(s).join('***');
  return out;
}

function pgMessage(err: unknown, t: Target): string {
  const e = err as Error & { code?: string; errors?: Error[] };
  // Node reports a refused "localhost" (tried on ::1 and 127.0.0.1) as an AggregateError with no message.
  let msg = e.message || e.errors?.[0]?.message || String(e.code ?? err);
  if (/SASL|client password must be a string/.test(msg)) msg = `the server wants a password and none was given (set PGPASSWORD): ${msg}`;
  const code = e.code && !msg.includes(e.code) ? ` [${e.code}]` : '';
  return scrub(msg + code, t);
}

function urlFor(t: Target, database: string | undefined): string {
  if (database === undefined) return t.url.href;
  const u = new URL(t.url.href);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.href;
}

async function connect(t: Target, database?: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: urlFor(t, database),
    connectionTimeoutMillis: 15_000,
    application_name: 'auditgate collect entitlements',
  });
  client.on('error', () => {}); // a dropped connection also fails the pending query, which reports it
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    const e = new EntitlementsError(`connecting to PostgreSQL at ${describeClient(client)} as ${client.user ?? '(default user)'} failed: ${pgMessage(err, t)}`);
    (e as { code?: string }).code = (err as { code?: string }).code;
    throw e;
  }
  return client;
}

async function runQuery<R>(c: pg.Client, t: Target, what: string, sql: string): Promise<R[]> {
  try {
    return (await c.query(sql)).rows as R[];
  } catch (err) {
    throw new EntitlementsError(`${what} on ${describeClient(c)} failed: ${pgMessage(err, t)}`);
  }
}

/** Streams one catalog query into its table; returns the rows landed. */
async function land(c: pg.Client, t: Target, q: CatalogQuery, sink: TableAppender, prefix: Cell[]): Promise<number> {
  let n = 0;
  const stream = c.query(new QueryStream(q.sql, [], { batchSize: 1000, rowMode: 'array' }));
  try {
    for await (const row of stream as AsyncIterable<unknown[]>) {
      sink.append([...prefix, ...(q.map ? q.map(row) : (row as Cell[]))]);
      n++;
    }
  } catch (err) {
    if (err instanceof EntitlementsError) throw err;
    const where = `database ${c.database} on ${c.host}:${c.port}`;
    if (err instanceof LandingError) throw new EntitlementsError(`${err.message} (${q.what} from ${where})`);
    throw new EntitlementsError(`reading ${q.what} (${q.catalog}) in ${where} failed: ${pgMessage(err, t)}`);
  }
  return n;
}

interface DatabaseRow {
  datname: string;
  allowconn: boolean;
  template: boolean;
  invalid: boolean;
  can_connect: boolean;
}

const DATABASES_SQL = `
SELECT datname::text, datallowconn AS allowconn, datistemplate AS template, datconnlimit = -2 AS invalid,
       has_database_privilege(oid, 'CONNECT') AS can_connect
FROM pg_catalog.pg_database ORDER BY datname`;

function skipReason(d: DatabaseRow): string | undefined {
  if (d.invalid) return 'invalid: an interrupted DROP DATABASE';
  if (d.template) return 'template';
  if (!d.allowconn) return 'connections not allowed';
  if (!d.can_connect) return 'no CONNECT privilege';
  return undefined;
}

/** A database dropped between listing and connecting (3D000), or being dropped (55000). */
const vanished = (err: unknown) => {
  const code = (err as { code?: string }).code;
  return code === '3D000' || (code === '55000' && /invalid database/.test((err as Error).message));
};

// ---- the collector -------------------------------------------------------------------------

export async function collectEntitlements(opts: CollectEntitlementsOptions): Promise<EntitlementsResult> {
  const target = parseTarget(opts.postgres);
  const progress = opts.onProgress ?? (() => {});
  const takenAt = opts.now ?? new Date();
  const snapshotId = datedId('ent', takenAt);
  const prefix: Cell[] = [snapshotId, takenAt];
  const duck = opts.db.connection;

  const main = await connect(target);
  const source = describeClient(main);
  try {
    await runQuery(main, target, 'starting a read-only transaction', 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const [facts] = await runQuery<{ version: string; num: number; user: string; db: string }>(
      main,
      target,
      'reading the server version',
      `SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num,
              current_user::text AS user, current_database()::text AS db`,
    );
    if (!facts) throw new EntitlementsError(`reading the server version on ${source} returned nothing`);
    progress(`snapshot ${snapshotId} of ${source} (PostgreSQL ${facts.version}) as ${facts.user}`);

    const others: string[] = [];
    const skipped: string[] = [];
    if (opts.allDatabases) {
      for (const d of await runQuery<DatabaseRow>(main, target, 'listing databases (pg_database)', DATABASES_SQL)) {
        if (d.datname === facts.db) continue;
        const reason = skipReason(d);
        if (reason) skipped.push(`${d.datname} (${reason})`);
        else others.push(d.datname);
      }
    }

    const databases = [facts.db];
    const counts = await inTransaction(duck, async () => {
      const sinks = new Map<TableDef, TableAppender>();
      const sink = (q: CatalogQuery) => sinks.get(q.table)!;
      try {
        for (const table of ENTITLEMENT_TABLES) sinks.set(table, await TableAppender.open(duck, table));
        for (const q of clusterQueries(facts.num >= 160000)) progress(`${q.what} (cluster-wide): ${await land(main, target, q, sink(q), prefix)} rows`);
        for (const q of databaseQueries) progress(`${q.what} in ${facts.db}: ${await land(main, target, q, sink(q), prefix)} rows`);
        await runQuery(main, target, 'ending the read-only transaction', 'COMMIT');
        for (const name of others) {
          let client: pg.Client;
          try {
            client = await connect(target, name);
          } catch (err) {
            if (!vanished(err)) throw err;
            skipped.push(`${name} (dropped during collection)`);
            continue;
          }
          try {
            await runQuery(client, target, 'starting a read-only transaction', 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
            for (const q of databaseQueries) progress(`${q.what} in ${name}: ${await land(client, target, q, sink(q), prefix)} rows`);
            await runQuery(client, target, 'ending the read-only transaction', 'COMMIT');
          } finally {
            await client.end().catch(() => {});
          }
          databases.push(name);
        }
      } finally {
        // Close inside the transaction, failure or not: closing after a ROLLBACK would land
        // the unflushed rows on their own.
        let closeError: unknown;
        for (const s of sinks.values()) {
          try {
            s.close();
          } catch (err) {
            closeError ??= err;
          }
        }
        if (closeError) throw new EntitlementsError((closeError as Error).message);
      }
      const rows = (t: TableDef) => sinks.get(t)!.rows;
      const counts: Record<EntitlementTable, number> = {
        ent_roles: rows(entRoles),
        ent_memberships: rows(entMemberships),
        ent_privileges: rows(entPrivileges),
        ent_default_privileges: rows(entDefaultPrivileges),
        ent_rls_policies: rows(entRlsPolicies),
      };
      const snap = await TableAppender.open(duck, entitlementSnapshots);
      snap.append([
        snapshotId,
        takenAt,
        source,
        facts.user,
        facts.version,
        facts.num,
        opts.allDatabases === true,
        databases,
        skipped,
        counts.ent_roles,
        counts.ent_memberships,
        counts.ent_privileges,
        counts.ent_default_privileges,
        counts.ent_rls_policies,
      ]);
      snap.close();
      return counts;
    });
    await confirmLanded(opts.db, snapshotId);
    return { snapshotId, takenAt, source, databases, skippedDatabases: skipped, counts };
  } finally {
    await main.end().catch(() => {});
  }
}

/** DuckDB's COMMIT of an aborted transaction keeps nothing and says nothing: check. */
async function confirmLanded(db: EvidenceDb, snapshotId: string): Promise<void> {
  const r = await db.connection.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM entitlement_snapshots WHERE snapshot_id = $1`, [snapshotId]);
  if (r.getRows()[0]?.[0] !== 1) throw new EntitlementsError(`snapshot ${snapshotId} did not land in ${db.path} (the transaction was rolled back)`);
}
