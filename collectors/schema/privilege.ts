// What can make a statement a privileged action (the privileged_actions view, views.ts): shared
// by the view, which works out the categories, and by the derivation, which marks each
// statement that can have one (derived_statements.privilege_candidate) when it is derived.

/** Functions only a superuser (or a role granted them explicitly) may run, or that reach outside the database. */
export const ADMIN_FUNCTIONS = [
  'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'pg_ls_logdir', 'pg_ls_waldir', 'pg_ls_tmpdir', 'pg_ls_archive_statusdir',
  'pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_promote', 'pg_switch_wal', 'pg_create_restore_point',
  'pg_backup_start', 'pg_backup_stop', 'pg_start_backup', 'pg_stop_backup', 'lo_import', 'lo_export', 'dblink', 'dblink_exec', 'dblink_connect',
  'dblink_connect_u', 'set_config', 'pg_file_write', 'pg_file_rename', 'pg_file_unlink', 'pg_logical_emit_message',
  'pg_create_physical_replication_slot', 'pg_create_logical_replication_slot', 'pg_drop_replication_slot', 'pg_replication_origin_create',
];

/** Command tags of statements that need superuser (or equivalent) rights. */
export const SUPERUSER_COMMANDS = [
  'ALTER SYSTEM', 'CREATE EXTENSION', 'ALTER EXTENSION', 'DROP EXTENSION', 'LOAD', 'CREATE LANGUAGE', 'ALTER LANGUAGE', 'DROP LANGUAGE',
  'CREATE EVENT TRIGGER', 'ALTER EVENT TRIGGER', 'DROP EVENT TRIGGER', 'CREATE SUBSCRIPTION', 'ALTER SUBSCRIPTION', 'DROP SUBSCRIPTION',
  'CREATE PUBLICATION', 'ALTER PUBLICATION', 'CREATE TABLESPACE', 'DROP TABLESPACE', 'CREATE FOREIGN DATA WRAPPER', 'CREATE SERVER',
  'ALTER SERVER', 'CREATE USER MAPPING', 'ALTER USER MAPPING', 'CHECKPOINT',
];

/**
 * False only for a statement that cannot fall in any privileged_actions category whatever its
 * role: one plain DML kind and command tag, and no function whose name contains an admin
 * function's. Never NULL. Arguments are SQL expressions for the statement's kind, command tag
 * and functions (the derived JSON list). A cheap test; the categories themselves are exact.
 */
export const privilegeCandidate = (kind: string, tag: string, functions: string) =>
  `coalesce(coalesce(${kind}, '') NOT IN ('select', 'insert', 'update', 'delete', 'merge')
    OR coalesce(${tag}, '') NOT IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', '')
    OR (CAST(${functions} AS VARCHAR) <> '[]' AND regexp_matches(CAST(${functions} AS VARCHAR), '${ADMIN_FUNCTIONS.join('|')}', 'i')), false)`;
