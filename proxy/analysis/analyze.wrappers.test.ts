// Statements that wrap others: EXPLAIN, PREPARE/EXECUTE/DEALLOCATE, DECLARE CURSOR.
import { describe, expect, test } from 'vitest';
import { type PreparedRegistry, emptyFacts } from './facts.js';
import { analyze } from './index.js';
import { FP, one } from './analyze.fixtures.js';

const deleteT = { kind: 'delete', table: { schema: null, name: 't' }, has_where: false };

describe('EXPLAIN', () => {
  test('EXPLAIN ANALYZE runs the statement: the inner facts, tag EXPLAIN', () => {
    const sql = 'EXPLAIN ANALYZE DELETE FROM t';
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'delete',
      command_tag: 'EXPLAIN',
      tables: [{ schema: null, name: 't', access: 'write' }],
      operations: [deleteT],
      read_only: false,
      explain: { analyze: true },
      utility: 'EXPLAIN',
    });
  });

  test('option-list forms of ANALYZE', () => {
    expect(one('EXPLAIN (ANALYZE) DELETE FROM t')).toMatchObject({ kind: 'delete', explain: { analyze: true }, operations: [deleteT] });
    expect(one('EXPLAIN (ANALYZE true, BUFFERS) DELETE FROM t').explain).toEqual({ analyze: true });
    expect(one('EXPLAIN (FORMAT json, ANALYZE on) DELETE FROM t').explain).toEqual({ analyze: true });
    expect(one('EXPLAIN ANALYZE VERBOSE DELETE FROM t').kind).toBe('delete');
  });

  test('ANALYZE false/off/0 is a plain EXPLAIN', () => {
    for (const sql of ['EXPLAIN (ANALYZE false) DELETE FROM t', 'EXPLAIN (ANALYZE off, COSTS) DELETE FROM t', 'EXPLAIN (ANALYZE 0) DELETE FROM t']) {
      expect(one(sql)).toMatchObject({ kind: 'explain', explain: { analyze: false }, operations: [] });
    }
  });

  test('EXPLAIN without ANALYZE: kind explain, tables read, no operations, functions kept', () => {
    const sql = 'EXPLAIN UPDATE t SET a = f(b) FROM u WHERE t.id = u.id';
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'explain',
      command_tag: 'EXPLAIN',
      tables: [
        { schema: null, name: 't', access: 'read' },
        { schema: null, name: 'u', access: 'read' },
      ],
      columns: [
        { table: null, name: 'b' },
        { table: 't', name: 'id' },
        { table: 'u', name: 'id' },
      ],
      functions: [{ schema: null, name: 'f' }],
      read_only: true,
      has_where: true,
      explain: { analyze: false },
      utility: 'EXPLAIN',
    });
  });

  test('EXPLAIN ANALYZE of a SELECT with a modifying CTE takes the modifying kind', () => {
    expect(one('EXPLAIN ANALYZE WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d')).toMatchObject({
      kind: 'delete',
      command_tag: 'EXPLAIN',
      operations: [deleteT],
      read_only: false,
    });
  });

  test('EXPLAIN ANALYZE SELECT is read-only', () => {
    expect(one('EXPLAIN ANALYZE SELECT * FROM t')).toMatchObject({ kind: 'select', command_tag: 'EXPLAIN', read_only: true, explain: { analyze: true } });
  });
});

describe('PREPARE / EXECUTE / DEALLOCATE', () => {
  test('PREPARE: kind prepare, inner tables with real access, no operations yet', () => {
    const sql = 'PREPARE p(int) AS DELETE FROM t WHERE id = $1';
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'prepare',
      command_tag: 'PREPARE',
      tables: [{ schema: null, name: 't', access: 'write' }],
      columns: [{ table: null, name: 'id' }],
      read_only: true,
      has_where: true,
      param_count: 1,
      prepared: { name: 'p', known: true },
      utility: 'PREPARE',
    });
  });

  test('PREPARE then EXECUTE in one string: EXECUTE carries the prepared facts', () => {
    const [prep, exec] = analyze('PREPARE p AS DELETE FROM t; EXECUTE p');
    expect(prep!.operations).toEqual([]);
    expect(exec).toEqual({
      ...emptyFacts('EXECUTE p'),
      fingerprint: FP,
      kind: 'delete',
      command_tag: 'DELETE',
      tables: [{ schema: null, name: 't', access: 'write' }],
      operations: [deleteT],
      read_only: false,
      prepared: { name: 'p', known: true },
    });
    expect(exec!.fingerprint).toBe(one('EXECUTE p').fingerprint);
  });

  test('the registry carries prepared statements across calls', () => {
    const prepared: PreparedRegistry = new Map();
    analyze('PREPARE upd AS UPDATE t SET a = $1 WHERE id = $2', { prepared });
    expect([...prepared.keys()]).toEqual(['upd']);
    expect(prepared.get('upd')).toMatchObject({ kind: 'update', operations: [{ kind: 'update', has_where: true }] });

    const exec = one('EXECUTE upd(1, now())', { prepared, protocol: 'extended', in_transaction: true });
    expect(exec).toMatchObject({
      sql: 'EXECUTE upd(1, now())',
      kind: 'update',
      command_tag: 'UPDATE',
      has_where: true,
      protocol: 'extended',
      in_transaction: true,
      prepared: { name: 'upd', known: true },
      // Parameters only contribute functions (and $n); the prepared $1/$2 are bound by them.
      param_count: 0,
    });
    expect(exec.functions).toEqual([{ schema: null, name: 'now' }]);
    expect(exec.columns).toEqual([
      { table: null, name: 'id' },
    ]);
  });

  test('EXECUTE of an unknown name: kind execute, not read-only', () => {
    expect(one('EXECUTE nope(lower($1))')).toEqual({
      ...emptyFacts('EXECUTE nope(lower($1))'),
      fingerprint: FP,
      kind: 'execute',
      command_tag: 'EXECUTE',
      functions: [{ schema: null, name: 'lower' }],
      read_only: false,
      param_count: 1,
      prepared: { name: 'nope', known: false },
      utility: 'EXECUTE',
    });
  });

  test('DEALLOCATE removes a name; DEALLOCATE ALL removes every name', () => {
    const prepared: PreparedRegistry = new Map();
    analyze('PREPARE a AS SELECT 1; PREPARE b AS SELECT 2', { prepared });
    expect([...prepared.keys()]).toEqual(['a', 'b']);

    expect(one('DEALLOCATE a', { prepared })).toMatchObject({
      kind: 'deallocate',
      command_tag: 'DEALLOCATE',
      read_only: true,
      prepared: { name: 'a', known: true },
      utility: 'DEALLOCATE',
    });
    expect([...prepared.keys()]).toEqual(['b']);
    expect(one('EXECUTE a', { prepared }).kind).toBe('execute');

    expect(one('DEALLOCATE ALL', { prepared })).toMatchObject({ kind: 'deallocate', command_tag: 'DEALLOCATE ALL', prepared: null });
    expect(prepared.size).toBe(0);
  });

  test('within one string, EXECUTE after DEALLOCATE is unknown', () => {
    expect(analyze('PREPARE p AS DELETE FROM t; DEALLOCATE PREPARE p; EXECUTE p').map((f) => f.kind)).toEqual(['prepare', 'deallocate', 'execute']);
  });

  test('without a registry, PREPARE in one call is forgotten by the next', () => {
    analyze('PREPARE p AS DELETE FROM t');
    expect(one('EXECUTE p').kind).toBe('execute');
  });

  test('the registry is not changed when the string fails to parse', () => {
    const prepared: PreparedRegistry = new Map();
    analyze('PREPARE keep AS SELECT 1', { prepared });
    expect(one('DEALLOCATE ALL; PREPARE x AS SELECT 1; selec', { prepared }).kind).toBe('parse_error');
    expect([...prepared.keys()]).toEqual(['keep']);
  });

  test('EXPLAIN EXECUTE of a known statement plans it; EXPLAIN ANALYZE EXECUTE runs it', () => {
    const prepared: PreparedRegistry = new Map();
    analyze('PREPARE p AS DELETE FROM t', { prepared });
    expect(one('EXPLAIN EXECUTE p', { prepared })).toMatchObject({ kind: 'explain', operations: [], tables: [{ name: 't', access: 'read' }] });
    expect(one('EXPLAIN ANALYZE EXECUTE p', { prepared })).toMatchObject({ kind: 'delete', command_tag: 'EXPLAIN', operations: [deleteT] });
  });

  test('facts handed out for PREPARE and EXECUTE are copies: changing them leaves the registry intact', () => {
    const prepared: PreparedRegistry = new Map();
    const prep = one('PREPARE p AS DELETE FROM t', { prepared });
    prep.tables[0]!.access = 'read';
    const exec = one('EXECUTE p', { prepared });
    exec.operations[0]!.has_where = true;
    exec.tables.push({ schema: null, name: 'x', access: 'read' });
    expect(one('EXECUTE p', { prepared })).toMatchObject({ operations: [deleteT], tables: [{ schema: null, name: 't', access: 'write' }] });
  });
});

describe('cursors', () => {
  test('DECLARE CURSOR: the facts of its query, tag DECLARE CURSOR', () => {
    expect(one('DECLARE c CURSOR WITH HOLD FOR SELECT a FROM t WHERE b = 1')).toMatchObject({
      kind: 'select',
      command_tag: 'DECLARE CURSOR',
      utility: 'DECLARE CURSOR',
      tables: [{ schema: null, name: 't', access: 'read' }],
      columns: [
        { table: null, name: 'a' },
        { table: null, name: 'b' },
      ],
      read_only: true,
      has_where: true,
    });
  });

  test('FETCH, MOVE, CLOSE: read-only utilities', () => {
    expect(one('FETCH 10 FROM c')).toMatchObject({ kind: 'utility', command_tag: 'FETCH', utility: 'FETCH', read_only: true });
    expect(one('MOVE c')).toMatchObject({ kind: 'utility', command_tag: 'MOVE', read_only: true });
    expect(one('CLOSE c')).toMatchObject({ kind: 'utility', command_tag: 'CLOSE CURSOR', read_only: true });
    expect(one('CLOSE ALL')).toMatchObject({ kind: 'utility', command_tag: 'CLOSE CURSOR ALL', read_only: true });
  });
});
