// SELECT/INSERT/UPDATE/DELETE/MERGE: data-modifying CTEs, tables, columns, functions, WHERE/LIMIT.
import { describe, expect, test } from 'vitest';
import { emptyFacts } from './facts.js';
import { FP, one } from './analyze.fixtures.js';

const read = (name: string, schema: string | null = null) => ({ schema, name, access: 'read' });
const write = (name: string, schema: string | null = null) => ({ schema, name, access: 'write' });
const fn = (name: string, schema: string | null = null) => ({ schema, name });
const col = (name: string, table: string | null = null) => ({ table, name });

describe('data-modifying CTEs', () => {
  test('a DELETE inside WITH under a SELECT: kind delete, table written, CTE name not a table', () => {
    const sql = 'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d';
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'delete',
      command_tag: 'SELECT',
      tables: [write('t')],
      columns: [col('*')],
      operations: [{ kind: 'delete', table: { schema: null, name: 't' }, has_where: false }],
      read_only: false,
    });
  });

  test('the first modifying CTE gives the kind; each operation keeps its own WHERE', () => {
    const f = one('WITH a AS (UPDATE t SET x = 1 RETURNING id), b AS (DELETE FROM u WHERE id IN (SELECT id FROM a) RETURNING *) SELECT * FROM b WHERE true');
    expect(f.kind).toBe('update');
    expect(f.operations).toEqual([
      { kind: 'update', table: { schema: null, name: 't' }, has_where: false },
      { kind: 'delete', table: { schema: null, name: 'u' }, has_where: true },
    ]);
    expect(f.tables).toEqual([write('t'), write('u')]);
    // has_where describes the promoted operation, not the outer SELECT's WHERE.
    expect(f.has_where).toBe(false);
    expect(f.read_only).toBe(false);
  });

  test('an outer LIMIT does not bound the modifying CTE', () => {
    const f = one('WITH d AS (DELETE FROM t WHERE a > 1 RETURNING *) SELECT * FROM d LIMIT 1');
    expect(f).toMatchObject({ kind: 'delete', has_where: true, has_limit: false, read_only: false });
  });

  test('an INSERT inside WITH', () => {
    const f = one("WITH i AS (INSERT INTO audit VALUES (now()) RETURNING id) SELECT id FROM i");
    expect(f.kind).toBe('insert');
    expect(f.operations).toEqual([{ kind: 'insert', table: { schema: null, name: 'audit' }, has_where: false }]);
    expect(f.functions).toEqual([fn('now')]);
  });

  test('a modifying CTE under a top-level INSERT: the INSERT is the kind and comes first', () => {
    const f = one('WITH d AS (DELETE FROM log RETURNING *) INSERT INTO archive SELECT * FROM d');
    expect(f.kind).toBe('insert');
    expect(f.operations).toEqual([
      { kind: 'insert', table: { schema: null, name: 'archive' }, has_where: false },
      { kind: 'delete', table: { schema: null, name: 'log' }, has_where: false },
    ]);
    // Tables come in walk order: the WITH clause first.
    expect(f.tables).toEqual([write('log'), write('archive')]);
  });

  test('a read-only CTE stays a read', () => {
    const f = one('WITH x AS (SELECT * FROM t) SELECT * FROM x');
    expect(f).toMatchObject({ kind: 'select', read_only: true, operations: [], tables: [read('t')] });
  });
});

describe('CTE scoping', () => {
  test('a recursive CTE referring to itself is not a table', () => {
    expect(one('WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r').tables).toEqual([]);
  });

  test('a non-recursive CTE body naming itself reads the real table', () => {
    expect(one('WITH a AS (SELECT * FROM a) SELECT * FROM a').tables).toEqual([read('a')]);
  });

  test('a later CTE sees an earlier one', () => {
    expect(one('WITH a AS (SELECT * FROM t), b AS (SELECT * FROM a) SELECT * FROM b').tables).toEqual([read('t')]);
  });

  test('a CTE inside a subquery does not hide a table of the same name outside it', () => {
    expect(one('SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) s, x').tables).toEqual([read('x')]);
    expect(one('(WITH x AS (SELECT 1) SELECT * FROM x) UNION SELECT * FROM x').tables).toEqual([read('x')]);
  });

  test('a schema-qualified name is a table even when a CTE has that name', () => {
    expect(one('WITH x AS (SELECT 1) SELECT * FROM public.x, x').tables).toEqual([read('x', 'public')]);
  });

  test('the target of a write is never the CTE', () => {
    expect(one('WITH t AS (SELECT 1) DELETE FROM t').tables).toEqual([write('t')]);
  });
});

describe('INSERT, UPDATE, DELETE, MERGE', () => {
  test('UPDATE with and without WHERE', () => {
    expect(one('UPDATE t SET a = 1 WHERE id = 2')).toMatchObject({
      kind: 'update',
      command_tag: 'UPDATE',
      has_where: true,
      read_only: false,
      tables: [write('t')],
      operations: [{ kind: 'update', table: { schema: null, name: 't' }, has_where: true }],
    });
    expect(one('UPDATE t SET a = 1')).toMatchObject({ has_where: false, operations: [{ kind: 'update', has_where: false }] });
  });

  test('DELETE without WHERE, and WHERE CURRENT OF', () => {
    expect(one('DELETE FROM s.t')).toMatchObject({
      kind: 'delete',
      has_where: false,
      tables: [write('t', 's')],
      operations: [{ kind: 'delete', table: { schema: 's', name: 't' }, has_where: false }],
    });
    expect(one('DELETE FROM t WHERE CURRENT OF c').has_where).toBe(true);
    expect(one('UPDATE t SET a = 1 WHERE CURRENT OF c').has_where).toBe(true);
  });

  test('UPDATE ... FROM and DELETE ... USING read their other tables', () => {
    const u = one('UPDATE t SET a = u.b FROM u WHERE t.id = u.id RETURNING *');
    expect(u.tables).toEqual([write('t'), read('u')]);
    expect(u.columns).toEqual([col('b', 'u'), col('id', 't'), col('id', 'u'), col('*')]);
    expect(one('DELETE FROM t USING u WHERE t.id = u.id').tables).toEqual([write('t'), read('u')]);
  });

  test('INSERT ... SELECT: target written, sources read, functions in both', () => {
    const f = one('INSERT INTO t (a) SELECT f(b) FROM s RETURNING g(a)');
    expect(f).toMatchObject({ kind: 'insert', command_tag: 'INSERT', has_where: false, read_only: false });
    expect(f.tables).toEqual([write('t'), read('s')]);
    expect(f.functions).toEqual([fn('f'), fn('g')]);
    expect(f.operations).toEqual([{ kind: 'insert', table: { schema: null, name: 't' }, has_where: false }]);
  });

  test('a table both read and written is reported once per access', () => {
    expect(one('INSERT INTO t SELECT * FROM t').tables).toEqual([write('t'), read('t')]);
  });

  test('INSERT ... ON CONFLICT DO UPDATE is one insert operation', () => {
    const f = one('INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = lower(excluded.v) WHERE t.v IS NULL');
    expect(f.operations).toEqual([{ kind: 'insert', table: { schema: null, name: 't' }, has_where: false }]);
    expect(f.functions).toEqual([fn('lower')]);
    expect(f.columns).toEqual([col('v', 'excluded'), col('v', 't')]);
  });

  test('MERGE: merge operation on the target, source read', () => {
    const f = one('MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, f())');
    expect(f).toMatchObject({ kind: 'merge', command_tag: 'MERGE', has_where: true, read_only: false, utility: null });
    expect(f.tables).toEqual([write('t'), read('s')]);
    expect(f.operations).toEqual([{ kind: 'merge', table: { schema: null, name: 't' }, has_where: true }]);
    expect(f.functions).toEqual([fn('f')]);
  });

  test('SELECT ... FOR UPDATE is still a read', () => {
    expect(one('SELECT * FROM t WHERE id = 1 FOR UPDATE')).toMatchObject({ kind: 'select', command_tag: 'SELECT', read_only: true, tables: [read('t')] });
  });
});

describe('has_limit', () => {
  test('LIMIT n and FETCH FIRST bound the result; LIMIT ALL, OFFSET and inner limits do not', () => {
    expect(one('select * from t limit 5').has_limit).toBe(true);
    expect(one('select * from t fetch first 3 rows only').has_limit).toBe(true);
    expect(one('select * from t limit all').has_limit).toBe(false);
    expect(one('select * from t offset 10').has_limit).toBe(false);
    expect(one('select * from (select * from t limit 1) s').has_limit).toBe(false);
  });
});

describe('tables', () => {
  test('quoted identifiers keep case and spaces; unquoted ones are folded by the parser', () => {
    expect(one('select * from "My Schema"."Orders" join Public.Users on true').tables).toEqual([read('Orders', 'My Schema'), read('users', 'public')]);
  });

  test('unqualified names have schema null; three-part names keep schema and name', () => {
    expect(one('select * from t, db.s.u').tables).toEqual([read('t'), read('u', 's')]);
  });

  test('tables in joins, subqueries, EXISTS and IN are all found, deduplicated', () => {
    const f = one('select * from a join b on a.id = b.id left join (select * from c) sc on true where exists (select 1 from d) and a.x in (select x from e) and a.y in (select y from a)');
    expect(f.tables).toEqual([read('a'), read('b'), read('c'), read('d'), read('e')]);
  });

  test('TABLE t, VALUES and set operations', () => {
    expect(one('TABLE t').tables).toEqual([read('t')]);
    expect(one('select a from t union all select a from u except select a from v').tables).toEqual([read('t'), read('u'), read('v')]);
    expect(one('values (1), (2)')).toMatchObject({ kind: 'select', tables: [] });
  });
});

describe('columns', () => {
  test('ColumnRefs: qualified, unqualified, star, table star; deduplicated', () => {
    expect(one('select a, t.b, t.*, *, a, s.t.c from t').columns).toEqual([col('a'), col('b', 't'), col('*', 't'), col('*'), col('c', 't')]);
  });
});

describe('functions', () => {
  test('in target lists, WHERE, JOIN conditions, ORDER BY, GROUP BY, HAVING, window and aggregate clauses', () => {
    const f = one(
      'select f1(a), count(*) filter (where f2(b)), array_agg(c order by f3(c)), rank() over (partition by f4(d) order by f5(e)) ' +
        'from t join u on f6(t.id) = u.id where f7(x) group by f8(y) having sum(z) > 0 order by f9(w)',
    );
    expect(f.functions).toEqual([
      fn('f1'),
      fn('count'),
      fn('f2'),
      fn('array_agg'),
      fn('f3'),
      fn('rank'),
      fn('f4'),
      fn('f5'),
      fn('f6'),
      fn('f7'),
      fn('f8'),
      fn('sum'),
      fn('f9'),
    ]);
  });

  test('range functions in FROM, LATERAL, ROWS FROM', () => {
    expect(one("select * from pg_read_file('/etc/passwd')").functions).toEqual([fn('pg_read_file')]);
    const f = one('select * from t, lateral f(t.a) x, generate_series(1, 3) g, rows from (g1(1), g2(2))');
    expect(f.functions).toEqual([fn('f'), fn('generate_series'), fn('g1'), fn('g2')]);
    expect(f.tables).toEqual([read('t')]);
  });

  test('in subqueries, VALUES, RETURNING, INSERT ... SELECT, ON CONFLICT', () => {
    expect(one('select * from t where a in (select f(b) from u)').functions).toEqual([fn('f')]);
    expect(one('values (f(1)), (g(2))').functions).toEqual([fn('f'), fn('g')]);
    expect(one('delete from t where a = 1 returning f(a)').functions).toEqual([fn('f')]);
    expect(one('insert into t select g(x) from u on conflict (id) do update set y = h(excluded.y)').functions).toEqual([fn('g'), fn('h')]);
  });

  test('schema-qualified and quoted names keep schema and case', () => {
    expect(one('select pg_catalog.pg_read_file(\'x\'), "MyFunc"(1), "S"."F"(2), a.b.c(3)').functions).toEqual([
      fn('pg_read_file', 'pg_catalog'),
      fn('MyFunc'),
      fn('F', 'S'),
      fn('c', 'b'),
    ]);
  });

  test('deduplicated; the same name in another schema is another function', () => {
    expect(one('select f(1), f(2), s.f(3), F(4)').functions).toEqual([fn('f'), fn('f', 's')]);
  });

  test('operators and keyword expressions are not functions; SQL-syntax calls are reported as the parser writes them', () => {
    expect(one('select a + b, a || b, a ~ b, coalesce(a, b), greatest(a, b), current_user, cast(a as int), a between 1 and 2 from t').functions).toEqual([]);
    expect(one("select extract(year from now()), x at time zone 'utc' from t").functions).toEqual([
      fn('extract', 'pg_catalog'),
      fn('now'),
      fn('timezone', 'pg_catalog'),
    ]);
  });

  test('side-effecting functions are simply reported: the policy decides', () => {
    expect(one("select set_config('role', 'admin', false)")).toMatchObject({ kind: 'select', functions: [fn('set_config')] });
    expect(one("select lo_import('/etc/passwd'), dblink_exec('host=x', 'drop table t')").functions).toEqual([fn('lo_import'), fn('dblink_exec')]);
  });
});
