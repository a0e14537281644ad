// Statement splitting, text slices, empty input, parse errors, fingerprints, options.
import { describe, expect, test } from 'vitest';
import { emptyFacts } from './facts.js';
import { analyze } from './index.js';
import { FP, one } from './analyze.fixtures.js';

describe('a single statement', () => {
  test('SELECT: every field', () => {
    const sql = 'SELECT id, name FROM users WHERE id = 42 LIMIT 1';
    expect(one(sql)).toEqual({
      ...emptyFacts(sql),
      fingerprint: FP,
      kind: 'select',
      command_tag: 'SELECT',
      tables: [{ schema: null, name: 'users', access: 'read' }],
      columns: [
        { table: null, name: 'id' },
        { table: null, name: 'name' },
      ],
      read_only: true,
      has_where: true,
      has_limit: true,
    });
  });

  test('surrounding whitespace and trailing semicolons are trimmed from sql', () => {
    expect(one('  \n\tselect 1 ;;  \n').sql).toBe('select 1');
  });
});

describe('multi-statement strings', () => {
  test('one fact set per statement, in order, each with its own text and fingerprint', () => {
    const all = analyze('select 1; insert into t values (2) ;delete from u');
    expect(all.map((f) => [f.sql, f.kind, f.command_tag])).toEqual([
      ['select 1', 'select', 'SELECT'],
      ['insert into t values (2)', 'insert', 'INSERT'],
      ['delete from u', 'delete', 'DELETE'],
    ]);
    expect(all.map((f) => f.fingerprint)).toEqual(['select 1', 'insert into t values (2)', 'delete from u'].map((s) => one(s).fingerprint));
    expect(new Set(all.map((f) => f.fingerprint)).size).toBe(3);
  });

  test('offsets are bytes: non-ASCII text before a statement does not shift its slice', () => {
    expect(analyze("select 'é' as a; select 'x' from t").map((f) => f.sql)).toEqual(["select 'é' as a", "select 'x' from t"]);
    expect(analyze("select '😀🎉'; delete from t where id = 1").map((f) => f.sql)).toEqual(["select '😀🎉'", 'delete from t where id = 1']);
    expect(analyze("select 'ü'; select 'ß' ; update t set a = 'é'").map((f) => f.sql)).toEqual([
      "select 'ü'",
      "select 'ß'",
      "update t set a = 'é'",
    ]);
  });

  test('each statement gets only its own tables', () => {
    const [a, b] = analyze('select * from a; delete from b where x = 1');
    expect(a!.tables).toEqual([{ schema: null, name: 'a', access: 'read' }]);
    expect(b!.tables).toEqual([{ schema: null, name: 'b', access: 'write' }]);
    expect(b!.has_where).toBe(true);
  });

  test('whitespace, empty statements and comments between statements', () => {
    expect(analyze('  select 1 ;  \n\t select 2;; ;').map((f) => f.sql)).toEqual(['select 1', 'select 2']);
    // PostgreSQL starts a statement at its first token: a comment before it belongs to none.
    expect(analyze('/* note */ select 1; -- next\nselect 2').map((f) => f.sql)).toEqual(['select 1', 'select 2']);
  });
});

describe('empty input', () => {
  test('an empty string is one fact set of kind empty', () => {
    expect(analyze('')).toEqual([emptyFacts('')]);
  });

  test('whitespace, comments or semicolons only are empty too', () => {
    expect(one('   \n\t').kind).toBe('empty');
    expect(one(';;')).toMatchObject({ kind: 'empty', command_tag: '', fingerprint: '', read_only: true });
    expect(one('-- only a comment')).toEqual(emptyFacts('-- only a comment'));
    expect(one('/* c */').kind).toBe('empty');
  });
});

describe('parse errors', () => {
  test('one fact set of kind parse_error with message and position', () => {
    expect(analyze('select * frm t')).toEqual([
      {
        ...emptyFacts('select * frm t'),
        kind: 'parse_error',
        read_only: false,
        error: { message: 'syntax error at or near "frm"', position: 9 },
      },
    ]);
    expect(one('selec 1').error).toEqual({ message: 'syntax error at or near "selec"', position: 0 });
  });

  test('the position is into the submitted string, which is kept verbatim', () => {
    expect(one('  selec 1;\n')).toMatchObject({ sql: '  selec 1;\n', error: { message: 'syntax error at or near "selec"', position: 2 } });
  });

  test('the position counts characters, not bytes', () => {
    // "frm" is read as a column alias; the error is at "t": character 15, byte 16.
    expect(one("select 'é' frm t").error).toEqual({ message: 'syntax error at or near "t"', position: 15 });
  });

  test('an error anywhere makes the whole string one parse_error', () => {
    const f = one('select 1; delete from t; selec 2');
    expect(f.kind).toBe('parse_error');
    expect(f.sql).toBe('select 1; delete from t; selec 2');
    expect(f.fingerprint).toBe('');
    expect(f.tables).toEqual([]);
    expect(f.operations).toEqual([]);
    expect(f.error?.message).toBe('syntax error at or near "selec"');
  });

  test('a NUL character is refused: the parser would not see what follows it', () => {
    const f = one('select 1\0; drop table t');
    expect(f.kind).toBe('parse_error');
    expect(f.error).toEqual({ message: 'query text contains a NUL character', position: null });
  });

  test('input that is not a string is a parse_error, not a crash', () => {
    expect(one(undefined as unknown as string).kind).toBe('parse_error');
    expect(one(42 as unknown as string).kind).toBe('parse_error');
  });

  test('never throws, whatever the input', () => {
    const inputs = [')', "'unterminated", '$$', 'select $1 $$ x', '"', '\\', 'select /* open', 'é🎉', 'a'.repeat(100_000), '((((((', 'select 1 +'];
    for (const input of inputs) {
      const all = analyze(input);
      expect(all.length).toBeGreaterThan(0);
      expect(all.every((f) => f.kind === 'parse_error' && f.error !== null)).toBe(true);
    }
  });

  test('a tree too deep to walk fails closed as parse_error', () => {
    const deep = 'select ' + Array.from({ length: 5000 }, (_, i) => `a${i}`).join(' + ');
    const f = one(deep);
    expect(f.kind).toBe('parse_error');
    expect(f.tables).toEqual([]);
  });
});

describe('fingerprint', () => {
  test('equal for statements that differ only in literals', () => {
    expect(one("select * from t where a = 1 and b = 'x'").fingerprint).toBe(one("SELECT * FROM t WHERE a = 42 AND b = 'other'").fingerprint);
  });

  test('different for a different table or shape', () => {
    const base = one('select * from t where a = 1').fingerprint;
    expect(one('select * from u where a = 1').fingerprint).not.toBe(base);
    expect(one('select * from t where b = 1').fingerprint).not.toBe(base);
    expect(base).toMatch(/^[0-9a-f]{16}$/);
  });

  test('a single statement keeps its fingerprint with comments and semicolons around it', () => {
    expect(one('/* agent */ select 1; -- done').fingerprint).toBe(one('select 1').fingerprint);
  });
});

describe('param_count', () => {
  test('is the highest $n referenced anywhere', () => {
    expect(one('select $3, $1').param_count).toBe(3);
    expect(one('update t set a = $2 where id = $1').param_count).toBe(2);
    expect(one('with x as (select $4) select * from x where y in (select $2)').param_count).toBe(4);
    expect(one('select 1').param_count).toBe(0);
  });
});

describe('options', () => {
  test('protocol, in_transaction and params are copied to every statement', () => {
    const params = ['1', null];
    const all = analyze('select $1; select $2', { protocol: 'extended', in_transaction: true, params });
    for (const f of all) {
      expect(f.protocol).toBe('extended');
      expect(f.in_transaction).toBe(true);
      expect(f.params).toEqual(['1', null]);
      expect(f.params).not.toBe(params);
    }
  });

  test('defaults: simple protocol, not in a transaction, no params field', () => {
    const f = one('select 1');
    expect(f.protocol).toBe('simple');
    expect(f.in_transaction).toBe(false);
    expect('params' in f).toBe(false);
  });
});
