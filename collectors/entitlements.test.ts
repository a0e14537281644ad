// The entitlements collector against the machine's real PostgreSQL and real DuckDB files.
// Grants, RLS and roles are made in a scratch database and roles of this process's own
// (cluster-wide roles carry the pid), dropped afterwards; auditgate_it is only read.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCollectEntitlements } from '../cli/commands/collect-entitlements.js';
import { PG, ensureFixtureDb } from '../test/support/fixture-db.js';
import { collectEntitlements, type EntitlementsResult } from './entitlements.js';
import { openEvidenceDb, type EvidenceDb } from './evidence-db.js';

const P = `ent${process.pid}`;
const DB = `auditgate_ent_${process.pid}`;
const R = {
  owner: `${P}_owner`,
  analyst: `${P}_analyst`,
  admins: `${P}_admins`,
  alice: `${P}_alice`,
  etl: `${P}_etl`,
  root: `${P}_root`,
};
const url = (database: string, user = 'postgres') => `postgres://${user}@${PG.host}:${PG.port}/${database}`;

async function sql(database: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ ...PG, database });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

async function dropScratch(): Promise<void> {
  await sql('postgres', `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  for (const r of Object.values(R)) await sql('postgres', `DROP ROLE IF EXISTS ${r}`);
}

let dir: string;
let db: EvidenceDb;
let serverVersionNum: number;

async function rows(query: string, ...params: (string | number)[]): Promise<Record<string, unknown>[]> {
  return (await db.connection.runAndReadAll(query, params)).getRowObjectsJson() as Record<string, unknown>[];
}

async function totals(): Promise<Record<string, unknown>> {
  const [r] = await rows(`SELECT (SELECT count(*) FROM entitlement_snapshots) s, (SELECT count(*) FROM ent_roles) r,
    (SELECT count(*) FROM ent_memberships) m, (SELECT count(*) FROM ent_privileges) p,
    (SELECT count(*) FROM ent_default_privileges) d, (SELECT count(*) FROM ent_rls_policies) l`);
  return r!;
}

beforeAll(async () => {
  await ensureFixtureDb();
  await dropScratch();
  await sql('postgres', `CREATE DATABASE ${DB}`);
  await sql(
    'postgres',
    `CREATE ROLE ${R.owner} NOLOGIN;
     CREATE ROLE ${R.analyst} LOGIN;
     CREATE ROLE ${R.admins} NOLOGIN;
     CREATE ROLE ${R.alice} LOGIN;
     CREATE ROLE ${R.etl} LOGIN BYPASSRLS CREATEDB CONNECTION LIMIT 3 VALID UNTIL 'infinity';
     CREATE ROLE ${R.root} SUPERUSER NOLOGIN VALID UNTIL '2030-01-01 00:00:00+00';
     GRANT ${R.admins} TO ${R.alice} WITH ADMIN OPTION;
     REVOKE ALL ON DATABASE ${DB} FROM PUBLIC;
     GRANT CONNECT ON DATABASE ${DB} TO ${R.analyst};`,
  );
  await sql(
    DB,
    `CREATE SCHEMA app AUTHORIZATION ${R.owner};
     GRANT USAGE ON SCHEMA app TO ${R.analyst};
     CREATE TABLE app.accounts (id int, region text, secret text);
     ALTER TABLE app.accounts OWNER TO ${R.owner};
     GRANT SELECT (id, region) ON app.accounts TO ${R.analyst};
     ALTER DEFAULT PRIVILEGES FOR ROLE ${R.owner} IN SCHEMA app GRANT SELECT ON TABLES TO ${R.analyst};
     ALTER TABLE app.accounts ENABLE ROW LEVEL SECURITY;
     CREATE POLICY by_region ON app.accounts AS PERMISSIVE FOR SELECT TO ${R.analyst}, ${R.alice}
       USING (region = current_setting('app.region', true));
     CREATE POLICY no_secrets ON app.accounts AS RESTRICTIVE FOR UPDATE TO PUBLIC USING (true) WITH CHECK (secret IS NULL);
     CREATE TABLE app.vault (id int);
     ALTER TABLE app.vault OWNER TO ${R.owner};
     ALTER TABLE app.vault ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
     CREATE VIEW app.v AS SELECT id FROM app.accounts;
     ALTER VIEW app.v OWNER TO ${R.owner};
     GRANT SELECT ON app.v TO PUBLIC;
     CREATE SEQUENCE app.seq;
     ALTER SEQUENCE app.seq OWNER TO ${R.owner};
     CREATE FUNCTION app.f(int, text) RETURNS int LANGUAGE sql AS 'SELECT 1';
     ALTER FUNCTION app.f(int, text) OWNER TO ${R.owner};
     REVOKE EXECUTE ON FUNCTION app.f(int, text) FROM PUBLIC;
     GRANT EXECUTE ON FUNCTION app.f(int, text) TO ${R.etl};`,
  );
  serverVersionNum = Number((await sql('postgres', 'SHOW server_version_num')).rows[0].server_version_num);
  dir = mkdtempSync(join(tmpdir(), 'auditgate-ent-'));
  db = await openEvidenceDb(join(dir, 'evidence.duckdb'));
});

afterAll(async () => {
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await dropScratch();
});

describe('collectEntitlements', () => {
  let first: EntitlementsResult;

  it('lands roles, memberships, privileges, default privileges and RLS policies of one database', async () => {
    const progress: string[] = [];
    first = await collectEntitlements({ postgres: url(DB), db, onProgress: (m) => progress.push(m), now: new Date('2025-03-01T10:00:00Z') });
    expect(first.snapshotId).toMatch(/^ent-20250301T100000Z-[0-9a-f]{8}$/);
    expect(first.source).toBe(`${PG.host}:${PG.port}/${DB}`);
    expect(first.databases).toEqual([DB]);
    expect(progress.some((m) => /^column privileges in auditgate_ent_\d+: 2 rows$/.test(m))).toBe(true);
    const id = first.snapshotId;

    const [snap] = await rows(`SELECT * EXCLUDE (taken_at), taken_at::VARCHAR AS taken_at FROM entitlement_snapshots WHERE snapshot_id = $1`, id);
    expect(snap).toMatchObject({ source: first.source, collected_as: 'postgres', server_version_num: serverVersionNum, all_databases: false, databases: [DB], skipped_databases: [] });
    expect(snap!.taken_at).toBe('2025-03-01 10:00:00+00');
    for (const [table, n] of Object.entries(first.counts)) {
      expect((await rows(`SELECT count(*)::INTEGER n FROM ${table} WHERE snapshot_id = $1`, id))[0]!.n).toBe(n);
      expect(snap![table.replace(/^ent_/, '')]).toBe(n);
    }

    expect(
      await rows(
        `SELECT name, can_login, superuser, bypassrls, createrole, createdb, replication, inherit, valid_until::VARCHAR valid_until,
                connection_limit, snapshot_at::VARCHAR snapshot_at
         FROM ent_roles WHERE snapshot_id = $1 AND name IN ($2, $3, $4) ORDER BY name`,
        id, R.analyst, R.etl, R.root,
      ),
    ).toEqual([
      { name: R.analyst, can_login: true, superuser: false, bypassrls: false, createrole: false, createdb: false, replication: false, inherit: true, valid_until: null, connection_limit: -1, snapshot_at: '2025-03-01 10:00:00+00' },
      { name: R.etl, can_login: true, superuser: false, bypassrls: true, createrole: false, createdb: true, replication: false, inherit: true, valid_until: 'infinity', connection_limit: 3, snapshot_at: '2025-03-01 10:00:00+00' },
      { name: R.root, can_login: false, superuser: true, bypassrls: false, createrole: false, createdb: false, replication: false, inherit: true, valid_until: '2030-01-01 00:00:00+00', connection_limit: -1, snapshot_at: '2025-03-01 10:00:00+00' },
    ]);

    expect(await rows(`SELECT role, member, admin_option, inherit_option, grantor FROM ent_memberships WHERE snapshot_id = $1 AND member = $2`, id, R.alice)).toEqual([
      { role: R.admins, member: R.alice, admin_option: true, inherit_option: serverVersionNum >= 160000 ? true : null, grantor: 'postgres' },
    ]);

    const privs = (where: string, ...params: string[]) =>
      rows(
        `SELECT grantee, object_type, schema_name, object_name, column_name, privilege, grantable, grantor, builtin_default
         FROM ent_privileges WHERE snapshot_id = $1 AND database = $2 AND ${where} ORDER BY ALL`,
        id, DB, ...params,
      );
    // Column privileges, granted by the superuser: PostgreSQL records the owner as grantor.
    expect(await privs(`object_type = 'column'`)).toEqual([
      { grantee: R.analyst, object_type: 'column', schema_name: 'app', object_name: 'accounts', column_name: 'id', privilege: 'SELECT', grantable: false, grantor: R.owner, builtin_default: false },
      { grantee: R.analyst, object_type: 'column', schema_name: 'app', object_name: 'accounts', column_name: 'region', privilege: 'SELECT', grantable: false, grantor: R.owner, builtin_default: false },
    ]);
    // A column grant does not touch the table's ACL: the owner's privileges are still the built-in default.
    expect((await privs(`object_type = 'table' AND object_name = 'accounts'`)).map((r) => [r.grantee, r.privilege, r.builtin_default])).toEqual(
      ['DELETE', 'INSERT', 'REFERENCES', 'SELECT', 'TRIGGER', 'TRUNCATE', 'UPDATE'].map((p) => [R.owner, p, true]),
    );
    expect((await privs(`object_name = 'v'`)).map((r) => [r.grantee, r.object_type, r.privilege, r.builtin_default])).toContainEqual(['PUBLIC', 'view', 'SELECT', false]);
    expect((await privs(`object_name = 'seq'`)).map((r) => [r.grantee, r.object_type, r.privilege, r.builtin_default])).toEqual([
      [R.owner, 'sequence', 'SELECT', true],
      [R.owner, 'sequence', 'UPDATE', true],
      [R.owner, 'sequence', 'USAGE', true],
    ]);
    expect((await privs(`object_type = 'function'`)).map((r) => [r.grantee, r.object_name, r.privilege])).toEqual([
      [R.etl, 'f(integer, text)', 'EXECUTE'],
      [R.owner, 'f(integer, text)', 'EXECUTE'],
    ]);
    expect((await privs(`object_type = 'schema' AND object_name = 'app'`)).map((r) => [r.grantee, r.privilege])).toEqual([
      [R.analyst, 'USAGE'],
      [R.owner, 'CREATE'],
      [R.owner, 'USAGE'],
    ]);
    // Database privileges are cluster-wide: REVOKE FROM PUBLIC left PUBLIC with nothing on DB.
    expect((await privs(`object_type = 'database' AND object_name = $3`, DB)).map((r) => [r.grantee, r.privilege])).toEqual([
      [R.analyst, 'CONNECT'],
      ['postgres', 'CONNECT'],
      ['postgres', 'CREATE'],
      ['postgres', 'TEMPORARY'],
    ]);
    // Other databases' CONNECT for PUBLIC is the built-in default (no ACL): it must show.
    expect(await rows(`SELECT builtin_default FROM ent_privileges WHERE snapshot_id = $1 AND object_type = 'database' AND object_name = 'postgres' AND grantee = 'PUBLIC' AND privilege = 'CONNECT'`, id)).toHaveLength(1);

    expect(await rows(`SELECT database, for_role, schema_name, object_type, grantee, privilege, grantable, grantor FROM ent_default_privileges WHERE snapshot_id = $1`, id)).toEqual([
      { database: DB, for_role: R.owner, schema_name: 'app', object_type: 'table', grantee: R.analyst, privilege: 'SELECT', grantable: false, grantor: R.owner },
    ]);

    expect(
      await rows(
        `SELECT schema_name, table_name, table_owner, rls_enabled, rls_forced, policy_name, command, roles, using_expr, with_check_expr, permissive
         FROM ent_rls_policies WHERE snapshot_id = $1 ORDER BY table_name, policy_name`,
        id,
      ),
    ).toEqual([
      {
        schema_name: 'app', table_name: 'accounts', table_owner: R.owner, rls_enabled: true, rls_forced: false, policy_name: 'by_region', command: 'SELECT',
        roles: [R.alice, R.analyst], using_expr: "(region = current_setting('app.region'::text, true))", with_check_expr: null, permissive: true,
      },
      {
        schema_name: 'app', table_name: 'accounts', table_owner: R.owner, rls_enabled: true, rls_forced: false, policy_name: 'no_secrets', command: 'UPDATE',
        roles: ['PUBLIC'], using_expr: 'true', with_check_expr: '(secret IS NULL)', permissive: false,
      },
      {
        schema_name: 'app', table_name: 'vault', table_owner: R.owner, rls_enabled: true, rls_forced: true, policy_name: null, command: null,
        roles: null, using_expr: null, with_check_expr: null, permissive: null,
      },
    ]);
  });

  it('lands a second snapshot beside the first, over every connectable database', async () => {
    const before = await totals();
    const second = await collectEntitlements({ postgres: url(DB), db, allDatabases: true });
    expect(second.snapshotId).not.toBe(first.snapshotId);
    expect(second.databases[0]).toBe(DB);
    expect(second.databases).toContain('auditgate_it');
    expect(second.skippedDatabases).toContain('template0 (template)');
    expect(await rows(`SELECT count(DISTINCT snapshot_id)::INTEGER n FROM ent_roles WHERE name = $1`, R.etl)).toEqual([{ n: 2 }]);
    expect((await totals()).s).toBe(String(Number(before.s) + 1));
    // The fixture's grants, read from its own database in the same snapshot.
    expect(
      await rows(
        `SELECT grantee FROM ent_privileges WHERE snapshot_id = $1 AND database = 'auditgate_it' AND schema_name = 'billing'
           AND object_name = 'payment_methods' AND privilege = 'SELECT' AND grantee LIKE 'auditgate_%' ORDER BY grantee`,
        second.snapshotId,
      ),
    ).toEqual([{ grantee: 'auditgate_reader' }, { grantee: 'auditgate_writer' }]);
    // Roles are cluster-wide: read once, not once per database.
    expect(await rows(`SELECT count(*)::INTEGER n FROM ent_roles WHERE snapshot_id = $1 AND name = $2`, second.snapshotId, R.etl)).toEqual([{ n: 1 }]);
  });

  it('refuses a bad URL, an unreachable server or a missing database clearly, and lands nothing', async () => {
    const before = await totals();
    const failures: [string, RegExp][] = [
      ['postgres//postgres:hunter2@127.0.0.1/x', /--postgres is not a URL/],
      ['mysql://root:hunter2@127.0.0.1/x', /must be a postgres:\/\/ or postgresql:\/\/ URL/],
      ['postgres://postgres:hunter2@127.0.0.1:1/x', /connecting to PostgreSQL at 127\.0\.0\.1:1\/x as postgres failed: .*ECONNREFUSED/],
      [url(`auditgate_nope_${process.pid}`), /connecting to PostgreSQL at .*auditgate_nope_\d+ as postgres failed: database "auditgate_nope_\d+" does not exist \[3D000\]/],
    ];
    for (const [target, message] of failures) {
      const err = await collectEntitlements({ postgres: target, db }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('hunter2');
    }
    expect(await totals()).toEqual(before);
  });

  it('lands nothing when it fails half-way', async () => {
    const before = await totals();
    const boom = (m: string) => {
      if (m.startsWith('function privileges')) throw new Error('interrupted');
    };
    await expect(collectEntitlements({ postgres: url(DB), db, onProgress: boom })).rejects.toThrow('interrupted');
    expect(await totals()).toEqual(before);
    // and the connection is usable afterwards
    await expect(collectEntitlements({ postgres: url(DB), db })).resolves.toBeDefined();
  });

  it('names the catalog it may not read', async () => {
    await sql(DB, 'REVOKE SELECT ON pg_catalog.pg_policy FROM PUBLIC');
    const before = await totals();
    const err = await collectEntitlements({ postgres: url(DB, R.analyst), db }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(
      new RegExp(`^reading row-level security policies \\(pg_policy\\) in database ${DB} on 127\\.0\\.0\\.1:5432 failed: permission denied for table pg_policy \\[42501\\]$`),
    );
    expect(await totals()).toEqual(before);
    await sql(DB, 'GRANT SELECT ON pg_catalog.pg_policy TO PUBLIC');
  });
});

describe('auditgate collect entitlements', () => {
  it('prints a summary with the snapshot id and counts, and never the password', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const file = join(dir, 'cli.duckdb');
    const r = await runCollectEntitlements(
      { postgres: `postgres://postgres:hunter2@${PG.host}:${PG.port}/${DB}`, db: file },
      { stdout: (t) => out.push(t), stderr: (t) => err.push(t), progress: false },
    );
    const text = out.join('');
    expect(text).toContain(`snapshot ${r.snapshotId} of ${PG.host}:${PG.port}/${DB} landed in ${file}`);
    expect(text).toMatch(/^ {2}ent_rls_policies +3$/m);
    expect(text).not.toContain('hunter2');
    expect(err).toEqual([]);
    const check = await openEvidenceDb(file, { readOnly: true });
    try {
      const stored = (await check.connection.runAndReadAll(`SELECT source FROM entitlement_snapshots`)).getRows();
      expect(stored).toEqual([[`${PG.host}:${PG.port}/${DB}`]]);
    } finally {
      check.close();
    }
  });

  it('reports a failure as one line naming what failed', async () => {
    await expect(
      runCollectEntitlements({ postgres: 'postgres://postgres:hunter2@127.0.0.1:1/x', db: join(dir, 'cli.duckdb') }, { stdout: () => {}, stderr: () => {}, progress: false }),
    ).rejects.toThrow(/^collecting entitlements failed, nothing landed: connecting to PostgreSQL at 127\.0\.0\.1:1\/x/);
  });
});
