// What surrounds the synthetic records in an evidence database: the landed segments with their
// chained seals and the collect run that verified them (as `auditgate collect` leaves them, so
// the integrity view says ok), and optionally a catalog snapshot and a directory import (as
// `auditgate collect entitlements` / `collect identities` would), so the access matrix has
// standing grants and names.
import { createHash } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { SyntheticIdentity } from './synthetic-catalog.js';
import { HOUR_US, q } from './synthetic-records.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Segments of `perSegment` records per gateway, each seal naming the one before; one verification run that landed them all. */
export async function landSegments(c: DuckDBConnection, a: { seed: number; perSegment: number }): Promise<void> {
  const run = `run-${a.seed}`;
  const key = sha256(`segment-signing-key-${a.seed}`);
  const seal = (ix: string) => `sha256('seal:${a.seed}:' || gateway_id || ':' || ${ix})`;
  await c.run(`CREATE TEMP TABLE _ag_seg AS
    SELECT gateway_id, (seq - 1) // ${a.perSegment} AS ix, min(seq) AS first_seq, max(seq) AS last_seq, count(*) AS n,
      min(ts) AS opened_at, max(ts) AS last_ts, arg_min(prev_hash, seq) AS first_prev, arg_max(hash, seq) AS last_hash
    FROM records GROUP BY ALL`);
  await c.run(`CREATE TEMP TABLE _ag_run AS SELECT max(last_ts) + INTERVAL 1 HOUR AS started_at FROM _ag_seg`);
  await c.run(`INSERT INTO segments
    SELECT gateway_id, printf('%s.%016d.arrows', gateway_id, first_seq), sha256('segment:${a.seed}:' || gateway_id || ':' || ix), n * 560,
      first_seq, last_seq, n, lower(hex(first_prev)), lower(hex(last_hash)),
      ${seal('ix')}, CASE WHEN ix > 0 THEN ${seal('(ix - 1)')} END, '${key}',
      opened_at, last_ts + INTERVAL 1 SECOND, false, '${run}',
      (SELECT started_at FROM _ag_run) + to_milliseconds(row_number() OVER (ORDER BY gateway_id, ix)), 'landed'
    FROM _ag_seg`);
  await c.run(`INSERT INTO verification_results
    SELECT '${run}', landed_at, gateway_id, segment, segment_sha256, first_seq, last_seq, 'landed', 'ok', 'landed ' || records || ' records'
    FROM segments`);
  await c.run(`INSERT INTO verification_runs
    SELECT '${run}', started_at, started_at + INTERVAL 15 MINUTE, '/var/lib/auditgate/segments', '${key}', 'synthetic', 'ok',
      (SELECT count(*) FROM segments), (SELECT count(*) FROM segments), 0, 0, 0, (SELECT sum(records) FROM segments), 0
    FROM _ag_run`);
  await c.run('DROP TABLE _ag_seg');
  await c.run('DROP TABLE _ag_run');
}

/**
 * A catalog snapshot taken an hour before the period ends. Readers and writers get SELECT
 * through app_read, writers INSERT/UPDATE/DELETE through app_write, the dba role owns the
 * tables, one break-glass role is a superuser. Writes to public.carts were revoked by the time
 * of the snapshot, so the purges earlier in the period show as used without a standing grant.
 */
export async function snapshotEntitlements(c: DuckDBConnection, a: { seed: number; endUs: number }): Promise<void> {
  const snap = `snap-${a.seed}`;
  const at = `make_timestamp(${a.endUs - HOUR_US})::TIMESTAMPTZ`;
  const roles: [name: string, login: boolean, superuser: boolean][] = [
    ['postgres', true, true],
    ['auditgate_reader', true, false],
    ['auditgate_writer', true, false],
    ['auditgate_admin', true, false],
    ['auditgate_superuser', true, true],
    ['app_read', false, false],
    ['app_write', false, false],
    ['analyst', true, false],
  ];
  const memberships = [
    ['app_read', 'auditgate_reader'],
    ['app_read', 'auditgate_writer'],
    ['app_write', 'auditgate_writer'],
    ['app_read', 'auditgate_admin'],
    ['app_write', 'auditgate_admin'],
    ['app_read', 'analyst'],
  ];
  const tables = [['public', 'customers'], ['public', 'orders'], ['public', 'order_items'], ['public', 'products'], ['public', 'payments'], ['public', 'shipments'], ['public', 'carts'], ['billing', 'invoices']] as const;
  const privileges: [grantee: string, database: string, schema: string, table: string, privilege: string, builtin: boolean][] = [];
  for (const database of ['shop', 'billing']) {
    for (const [schema, table] of tables) privileges.push(['app_read', database, schema, table, 'SELECT', false]);
    for (const table of ['orders', 'shipments', 'customers']) for (const p of ['INSERT', 'UPDATE', 'DELETE']) privileges.push(['app_write', database, 'public', table, p, false]);
    privileges.push(['PUBLIC', database, 'pg_catalog', 'pg_stat_activity', 'SELECT', true]);
  }
  await c.run(`INSERT INTO entitlement_snapshots VALUES ('${snap}', ${at}, 'db.acme.test:5432/shop', 'auditgate_catalog', '16.4', 160004, true, ['shop', 'billing'], [], ${roles.length}, ${memberships.length}, ${privileges.length}, 0, 0)`);
  await c.run(`INSERT INTO ent_roles VALUES ${roles.map(([name, login, su], i) => `('${snap}', ${at}, '${name}', ${16384 + i}, ${login}, ${su}, false, ${su}, ${su}, false, true, NULL, -1)`).join(', ')}`);
  await c.run(`INSERT INTO ent_memberships VALUES ${memberships.map(([role, member]) => `('${snap}', ${at}, '${role}', '${member}', false, true, true, 'postgres')`).join(', ')}`);
  await c.run(`INSERT INTO ent_privileges VALUES ${privileges
    .map(([grantee, database, schema, table, p, builtin]) => {
      const owner = schema === 'pg_catalog' ? 'postgres' : 'auditgate_admin';
      return `('${snap}', ${at}, '${grantee}', '${schema === 'pg_catalog' ? 'view' : 'table'}', '${database}', '${schema}', '${table}', NULL, '${p}', false, '${owner}', '${owner}', ${builtin})`;
    })
    .join(', ')}`);
}

/** A directory import an hour before the period ends: every identity but the last, the one before it disabled mid-period. */
export async function importDirectory(c: DuckDBConnection, a: { seed: number; endUs: number; disabledAtUs: number; identities: SyntheticIdentity[] }): Promise<void> {
  const at = `make_timestamp(${a.endUs - HOUR_US})::TIMESTAMPTZ`;
  const listed = a.identities.slice(0, Math.max(1, a.identities.length - 1));
  const disabled = a.identities.length >= 3 ? a.identities[a.identities.length - 2]!.subject : null;
  const status = (i: SyntheticIdentity) => (i.subject === disabled ? 'disabled' : 'active');
  const id = `dir-${a.seed}`;
  const digest = sha256(JSON.stringify(listed.map((i) => [i.subject, i.displayName, i.email, i.kind, i.owner, i.groups, status(i)])));
  await c.run(`INSERT INTO directory_imports VALUES ('${id}', ${at}, 'okta-export.csv', 'csv', '${digest}', ${listed.length})`);
  await c.run(`INSERT INTO directory_identities VALUES ${listed
    .map(
      (i, n) =>
        `('${id}', ${n + 2}, ${q(i.subject)}, ${q(i.displayName)}, ${q(i.email)}, '${i.kind}', ${q(i.owner)}, [${i.groups.map(q).join(', ')}], '${status(i)}', ` +
        `TIMESTAMPTZ '2024-06-01 00:00:00+00', ${status(i) === 'disabled' ? `make_timestamp(${a.disabledAtUs})::TIMESTAMPTZ` : 'NULL'})`,
    )
    .join(', ')}`);
}
