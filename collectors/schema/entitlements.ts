// Entitlements: who *can* access what, from the PostgreSQL catalog, one dated snapshot per
// `auditgate collect entitlements` run. Every row carries its snapshot's id and time, so
// snapshots coexist and auditors compare them. docs/evidence-entitlements.md has the columns.
// Names avoid DuckDB's reserved words (column, table, using) so queries need no quoting.
import { createTableSql, type Column, type TableDef } from '../duck-append.js';
import type { SchemaPart } from './part.js';

const snapshotCols: Column[] = [
  { name: 'snapshot_id', type: 'VARCHAR', notNull: true },
  { name: 'snapshot_at', type: 'TIMESTAMPTZ', notNull: true },
];

export const entitlementSnapshots: TableDef = {
  name: 'entitlement_snapshots',
  primaryKey: 'snapshot_id',
  columns: [
    { name: 'snapshot_id', type: 'VARCHAR', notNull: true },
    { name: 'taken_at', type: 'TIMESTAMPTZ', notNull: true },
    { name: 'source', type: 'VARCHAR', notNull: true }, // host:port/database, never credentials
    { name: 'collected_as', type: 'VARCHAR' },
    { name: 'server_version', type: 'VARCHAR' },
    { name: 'server_version_num', type: 'INTEGER' },
    { name: 'all_databases', type: 'BOOLEAN', notNull: true },
    { name: 'databases', type: 'VARCHAR[]', notNull: true },
    { name: 'skipped_databases', type: 'VARCHAR[]', notNull: true },
    { name: 'roles', type: 'INTEGER', notNull: true },
    { name: 'memberships', type: 'INTEGER', notNull: true },
    { name: 'privileges', type: 'INTEGER', notNull: true },
    { name: 'default_privileges', type: 'INTEGER', notNull: true },
    { name: 'rls_policies', type: 'INTEGER', notNull: true },
  ],
};

export const entRoles: TableDef = {
  name: 'ent_roles',
  columns: [
    ...snapshotCols,
    { name: 'name', type: 'VARCHAR', notNull: true },
    { name: 'oid', type: 'BIGINT', notNull: true },
    { name: 'can_login', type: 'BOOLEAN' },
    { name: 'superuser', type: 'BOOLEAN' },
    { name: 'bypassrls', type: 'BOOLEAN' },
    { name: 'createrole', type: 'BOOLEAN' },
    { name: 'createdb', type: 'BOOLEAN' },
    { name: 'replication', type: 'BOOLEAN' },
    { name: 'inherit', type: 'BOOLEAN' },
    { name: 'valid_until', type: 'TIMESTAMPTZ' },
    { name: 'connection_limit', type: 'INTEGER' },
  ],
};

export const entMemberships: TableDef = {
  name: 'ent_memberships',
  columns: [
    ...snapshotCols,
    { name: 'role', type: 'VARCHAR', notNull: true },
    { name: 'member', type: 'VARCHAR', notNull: true },
    { name: 'admin_option', type: 'BOOLEAN' },
    // PostgreSQL 16+ only (NULL before: inheritance is then the member's ent_roles.inherit).
    { name: 'inherit_option', type: 'BOOLEAN' },
    { name: 'set_option', type: 'BOOLEAN' },
    { name: 'grantor', type: 'VARCHAR' },
  ],
};

export const entPrivileges: TableDef = {
  name: 'ent_privileges',
  columns: [
    ...snapshotCols,
    { name: 'grantee', type: 'VARCHAR', notNull: true }, // a role name or PUBLIC
    { name: 'object_type', type: 'VARCHAR', notNull: true }, // database|schema|table|view|sequence|function|column
    { name: 'database', type: 'VARCHAR', notNull: true },
    { name: 'schema_name', type: 'VARCHAR' },
    { name: 'object_name', type: 'VARCHAR', notNull: true },
    { name: 'column_name', type: 'VARCHAR' }, // NULL unless object_type = column
    { name: 'privilege', type: 'VARCHAR', notNull: true },
    { name: 'grantable', type: 'BOOLEAN', notNull: true },
    { name: 'grantor', type: 'VARCHAR' },
    { name: 'object_owner', type: 'VARCHAR' },
    // True when the object has no ACL and the row is PostgreSQL's built-in default
    // (acldefault: the owner holds everything, PUBLIC some privileges for some object types).
    { name: 'builtin_default', type: 'BOOLEAN', notNull: true },
  ],
};

export const entDefaultPrivileges: TableDef = {
  name: 'ent_default_privileges',
  columns: [
    ...snapshotCols,
    { name: 'database', type: 'VARCHAR', notNull: true },
    { name: 'for_role', type: 'VARCHAR', notNull: true }, // objects this role creates later get the grant
    { name: 'schema_name', type: 'VARCHAR' }, // NULL: in every schema
    { name: 'object_type', type: 'VARCHAR', notNull: true }, // table|sequence|function|type|schema
    { name: 'grantee', type: 'VARCHAR', notNull: true },
    { name: 'privilege', type: 'VARCHAR', notNull: true },
    { name: 'grantable', type: 'BOOLEAN', notNull: true },
    { name: 'grantor', type: 'VARCHAR' },
  ],
};

export const entRlsPolicies: TableDef = {
  name: 'ent_rls_policies',
  columns: [
    ...snapshotCols,
    { name: 'database', type: 'VARCHAR', notNull: true },
    { name: 'schema_name', type: 'VARCHAR', notNull: true },
    { name: 'table_name', type: 'VARCHAR', notNull: true },
    { name: 'table_owner', type: 'VARCHAR' },
    { name: 'rls_enabled', type: 'BOOLEAN', notNull: true },
    { name: 'rls_forced', type: 'BOOLEAN', notNull: true },
    // NULL policy_name: RLS is on and no policy exists, so only the owner (unless forced),
    // superusers and BYPASSRLS roles see rows.
    { name: 'policy_name', type: 'VARCHAR' },
    { name: 'command', type: 'VARCHAR' }, // ALL|SELECT|INSERT|UPDATE|DELETE
    { name: 'roles', type: 'VARCHAR[]' },
    { name: 'using_expr', type: 'VARCHAR' },
    { name: 'with_check_expr', type: 'VARCHAR' },
    { name: 'permissive', type: 'BOOLEAN' },
  ],
};

export const ENTITLEMENT_TABLES = [entRoles, entMemberships, entPrivileges, entDefaultPrivileges, entRlsPolicies] as const;

export const entitlementsSchema: SchemaPart = {
  name: 'entitlements',
  version: 1,
  statements: [entitlementSnapshots, ...ENTITLEMENT_TABLES].map(createTableSql),
};
