// The identity directory import: the RFC 4180 parser, validation with line numbers, and
// landing into a real DuckDB file.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCollectIdentities } from '../cli/commands/collect-identities.js';
import { openEvidenceDb, type EvidenceDb } from './evidence-db.js';
import { CsvError, IdentityImportError, importIdentities, parseCsv, parseDirectoryCsv, parseDirectoryJson, parseTimestamp } from './identities.js';

describe('parseCsv (RFC 4180)', () => {
  it('splits fields and records, with CRLF or LF', () => {
    expect(parseCsv('a,b,c\r\n1,2,3\n4,,6')).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['1', '2', '3'] },
      { line: 3, fields: ['4', '', '6'] },
    ]);
  });

  it('keeps commas, doubled quotes and line breaks inside quoted fields, and counts lines through them', () => {
    const text = 'name,note\r\n"Lovelace, Ada","said ""hi""\r\nthen left"\r\n"",x\r\nlast,"a\nb"\n';
    expect(parseCsv(text)).toEqual([
      { line: 1, fields: ['name', 'note'] },
      { line: 2, fields: ['Lovelace, Ada', 'said "hi"\r\nthen left'] },
      { line: 4, fields: ['', 'x'] },
      { line: 5, fields: ['last', 'a\nb'] },
    ]);
  });

  it('skips a BOM and empty lines, keeps trailing empty fields', () => {
    expect(parseCsv('\ufeffa,b\n\n1,\n\n')).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 3, fields: ['1', ''] },
    ]);
    expect(parseCsv('a,')).toEqual([{ line: 1, fields: ['a', ''] }]);
    expect(parseCsv('')).toEqual([]);
  });

  it('refuses what it would have to guess at, with the line', () => {
    const fail = (t: string) => {
      try {
        parseCsv(t);
      } catch (e) {
        return [(e as CsvError).line, (e as Error).message];
      }
      return undefined;
    };
    expect(fail('a\n"open,\n\nstill open')).toEqual([2, 'line 2: a quoted field is never closed']);
    expect(fail('a\nb\nsay "hi"')).toEqual([3, expect.stringMatching(/^line 3: a quote inside an unquoted field/)]);
    expect(fail('a\n"x\ny"z,1')).toEqual([3, expect.stringMatching(/^line 3: text after a closing quote/)]);
  });
});

describe('parseTimestamp', () => {
  it('takes dates and zoned date-times, refuses zoneless times and impossible dates', () => {
    expect(parseTimestamp('2024-05-01')?.toISOString()).toBe('2024-05-01T00:00:00.000Z');
    expect(parseTimestamp('2024-05-01T09:30:00+02:00')?.toISOString()).toBe('2024-05-01T07:30:00.000Z');
    expect(parseTimestamp('2024-05-01 09:30:00.123456Z')?.toISOString()).toBe('2024-05-01T09:30:00.123Z');
    expect(parseTimestamp('2024-05-01T09:30:00')).toBeUndefined();
    expect(parseTimestamp('2023-02-29')).toBeUndefined();
    expect(parseTimestamp('2024-02-29')?.toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(parseTimestamp('05/01/2024')).toBeUndefined();
  });
});

const CSV = [
  'subject,display_name,email,kind,owner,groups,status,created_at,disabled_at',
  'alice@acme.test,"Lovelace, Ada",alice@acme.test,human,,eng;dba,active,2024-01-10,',
  'agent:claude-shop,"Shop agent\nfor ""shop"" repo",,agent,alice@acme.test,agents; agent-writers ;,active,2024-03-01T12:00:00Z,',
  'svc:etl,ETL,,service,alice@acme.test,,disabled,2023-06-01,2024-06-01',
].join('\r\n');

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(IdentityImportError);
    return e as IdentityImportError;
  }
  throw new Error('not refused');
};

describe('directory files', () => {
  it('reads a CSV export: quoted fields, ;-separated groups, lines of each row', () => {
    const ids = parseDirectoryCsv(CSV);
    expect(ids).toEqual([
      { line: 2, subject: 'alice@acme.test', display_name: 'Lovelace, Ada', email: 'alice@acme.test', kind: 'human', owner: null, groups: ['eng', 'dba'], status: 'active', created_at: new Date('2024-01-10T00:00:00Z'), disabled_at: null },
      { line: 3, subject: 'agent:claude-shop', display_name: 'Shop agent\nfor "shop" repo', email: null, kind: 'agent', owner: 'alice@acme.test', groups: ['agents', 'agent-writers'], status: 'active', created_at: new Date('2024-03-01T12:00:00Z'), disabled_at: null },
      { line: 5, subject: 'svc:etl', display_name: 'ETL', email: null, kind: 'service', owner: 'alice@acme.test', groups: [], status: 'disabled', created_at: new Date('2023-06-01T00:00:00Z'), disabled_at: new Date('2024-06-01T00:00:00Z') },
    ]);
  });

  it('takes the columns in any order and only the required ones', () => {
    expect(parseDirectoryCsv('status,kind,subject\nactive,agent,agent:x\n')).toMatchObject([{ subject: 'agent:x', kind: 'agent', groups: [], owner: null }]);
  });

  it('refuses the whole CSV when a row is bad, naming every bad line', () => {
    const bad = [
      'subject,kind,status,email,created_at',
      'ok@acme.test,human,active,ok@acme.test,2024-01-01',
      '"multi',
      'line",robot,active,,',
      'x@acme.test,human,gone,not-an-email,2024-13-01',
      'ok@acme.test,human,active,,',
      'short,human',
    ].join('\n');
    const err = refusal(() => parseDirectoryCsv(bad, 'people.csv'));
    expect(err.problems).toEqual([
      { line: 3, message: 'kind must be human, agent, service (got "robot")' },
      { line: 5, message: 'status must be active or disabled (got "gone")' },
      { line: 5, message: 'email is not an address (got "not-an-email")' },
      { line: 5, message: expect.stringMatching(/^created_at must be a date/) },
      { line: 6, message: 'subject "ok@acme.test" is already on line 2' },
      { line: 7, message: '2 fields where the header has 5' },
    ]);
    expect(err.message).toMatch(/^people\.csv: refused, nothing imported: 4 bad lines\n {2}line 3: kind must be/);
  });

  it('refuses unknown, repeated or missing header columns, and a CSV syntax error, with the line', () => {
    expect(refusal(() => parseDirectoryCsv('subject,kind,status,grups\n')).problems).toEqual([{ line: 1, message: expect.stringMatching(/^unknown column "grups"/) }]);
    expect(refusal(() => parseDirectoryCsv('subject,kind,kind\n')).problems.map((p) => p.message)).toEqual(['column kind appears twice', 'the header has no status column']);
    expect(refusal(() => parseDirectoryCsv('subject,kind,status\na,human,active\n"b,human,active\n')).problems).toEqual([{ line: 3, message: 'a quoted field is never closed' }]);
    expect(() => parseDirectoryCsv('subject,kind,status\n')).toThrow(/holds no identities/);
  });

  it('reads a JSON export and refuses bad entries with their lines', () => {
    const json = JSON.stringify(
      [
        { subject: 'alice@acme.test', kind: 'human', status: 'active', groups: ['eng'] },
        { subject: 'agent:a', kind: 'agent', status: 'active', owner: 'alice@acme.test', display_name: null },
      ],
      null,
      2,
    );
    expect(parseDirectoryJson(json)).toMatchObject([
      { line: 2, subject: 'alice@acme.test', groups: ['eng'] },
      { line: 10, subject: 'agent:a', owner: 'alice@acme.test', display_name: null, groups: [] },
    ]);
    const bad = `[
  {"subject": "a", "kind": "human", "status": "active"},
  {"subject": "b", "kind": "robot", "status": "active", "team": "x"},
  {"subject": "c", "kind": "human"},
  {"subject": "d", "kind": "human", "status": "active", "created_at": "yesterday"}
]`;
    expect(refusal(() => parseDirectoryJson(bad)).problems).toEqual([
      { line: 3, message: 'entry 2: unknown field "team" (known: subject, display_name, email, kind, owner, groups, status, created_at, disabled_at)' },
      { line: 3, message: 'entry 2: kind must be human, agent, service' },
      { line: 4, message: 'entry 3: status is missing' },
    ]);
    expect(refusal(() => parseDirectoryJson(bad.replace(/,\n {2}\{"subject": "b".*\n.*\n/, ',\n'))).problems).toEqual([
      { line: 3, message: expect.stringMatching(/^created_at must be a date/) },
    ]);
    expect(refusal(() => parseDirectoryJson('[\n  {"subject": "a",}\n]')).problems).toEqual([{ line: 2, message: expect.stringMatching(/^not valid JSON/) }]);
    expect(refusal(() => parseDirectoryJson('{"identities": []}')).problems).toEqual([{ line: 1, message: 'the file must be a JSON array of identities' }]);
  });
});

describe('importIdentities', () => {
  let dir: string;
  let db: EvidenceDb;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'auditgate-ids-'));
    db = await openEvidenceDb(join(dir, 'evidence.duckdb'));
  });
  afterAll(() => {
    db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const rows = async (sql: string, ...params: string[]) => (await db.connection.runAndReadAll(sql, params)).getRowObjectsJson();

  it('lands a CSV and a JSON import side by side', async () => {
    const csvFile = join(dir, 'okta.csv');
    writeFileSync(csvFile, CSV);
    const a = await importIdentities({ file: csvFile, db, now: new Date('2025-02-01T00:00:00Z') });
    expect(a).toMatchObject({ sourceFile: 'okta.csv', format: 'csv', rowCount: 3, byKind: { human: 1, agent: 1, service: 1 }, disabled: 1 });
    expect(a.importId).toMatch(/^dir-20250201T000000Z-[0-9a-f]{8}$/);
    expect(a.sha256).toBe(createHash('sha256').update(CSV).digest('hex'));

    const jsonFile = join(dir, 'people.JSON');
    writeFileSync(jsonFile, JSON.stringify([{ subject: 'bob@acme.test', kind: 'human', status: 'active', groups: ['ops'] }]));
    const b = await importIdentities({ file: jsonFile, db });
    expect(b).toMatchObject({ format: 'json', rowCount: 1 });

    expect(await rows(`SELECT import_id, source_file, format, sha256, row_count, imported_at::VARCHAR imported_at FROM directory_imports WHERE import_id = $1`, a.importId)).toEqual([
      { import_id: a.importId, source_file: 'okta.csv', format: 'csv', sha256: a.sha256, row_count: 3, imported_at: '2025-02-01 00:00:00+00' },
    ]);
    expect(
      await rows(
        `SELECT line, subject, display_name, kind, owner, groups, status, created_at::VARCHAR created_at, disabled_at::VARCHAR disabled_at
         FROM directory_identities WHERE import_id = $1 ORDER BY line`,
        a.importId,
      ),
    ).toEqual([
      { line: 2, subject: 'alice@acme.test', display_name: 'Lovelace, Ada', kind: 'human', owner: null, groups: ['eng', 'dba'], status: 'active', created_at: '2024-01-10 00:00:00+00', disabled_at: null },
      { line: 3, subject: 'agent:claude-shop', display_name: 'Shop agent\nfor "shop" repo', kind: 'agent', owner: 'alice@acme.test', groups: ['agents', 'agent-writers'], status: 'active', created_at: '2024-03-01 12:00:00+00', disabled_at: null },
      { line: 5, subject: 'svc:etl', display_name: 'ETL', kind: 'service', owner: 'alice@acme.test', groups: [], status: 'disabled', created_at: '2023-06-01 00:00:00+00', disabled_at: '2024-06-01 00:00:00+00' },
    ]);
    // groups is a real list: agents' owners and group membership are one query away.
    expect(await rows(`SELECT subject FROM directory_identities WHERE list_contains(groups, 'ops')`)).toEqual([{ subject: 'bob@acme.test' }]);
  });

  it('lands nothing from a refused file', async () => {
    const count = async () => (await rows(`SELECT (SELECT count(*) FROM directory_imports) i, (SELECT count(*) FROM directory_identities) r`))[0];
    const before = await count();
    const file = join(dir, 'bad.csv');
    writeFileSync(file, 'subject,kind,status\na,human,active\nb,human,maybe\n');
    await expect(importIdentities({ file, db })).rejects.toThrow(/^bad\.csv: refused, nothing imported: 1 bad line\n {2}line 3: status must be/);
    await expect(importIdentities({ file: join(dir, 'people.xlsx'), db })).rejects.toThrow(/told by the extension, \.csv or \.json/);
    await expect(importIdentities({ file: join(dir, 'missing.csv'), db })).rejects.toThrow(/^cannot read .*missing\.csv: ENOENT/);
    writeFileSync(join(dir, 'latin1.csv'), Buffer.from([0x73, 0x75, 0x62, 0x6a, 0xe9, 0x0a]));
    await expect(importIdentities({ file: join(dir, 'latin1.csv'), db })).rejects.toThrow(/not UTF-8/);
    expect(await count()).toEqual(before);
  });

  it('prints a summary from the CLI command', async () => {
    const file = join(dir, 'cli.csv');
    writeFileSync(file, CSV);
    const out: string[] = [];
    const r = await runCollectIdentities({ file, db: join(dir, 'cli.duckdb') }, { stdout: (t) => out.push(t), stderr: () => {}, progress: false });
    expect(out.join('')).toBe(
      `import ${r.importId} of cli.csv (csv, sha256 ${r.sha256}) landed in ${join(dir, 'cli.duckdb')}\n  3 identities: 1 human, 1 agent, 1 service; 1 disabled\n`,
    );
    await expect(runCollectIdentities({ file: join(dir, 'bad.csv'), db: join(dir, 'cli.duckdb') })).rejects.toMatchObject({ name: 'CliError', exitCode: 1 });
  });
});
