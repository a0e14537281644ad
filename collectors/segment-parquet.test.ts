import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { makeData, RecordBatch, Struct, Table, Utf8 } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, hex } from '../proxy/recorder/chain.js';
import { encodeBatch } from '../proxy/recorder/encode.js';
import { COLUMNS, recordSchema, type RecordInput } from '../proxy/recorder/schema.js';
import { recordsOf } from '../proxy/recorder/segment-reader.js';
import { sampleStatement } from '../proxy/recorder/test-support.js';
import { writeSegmentParquetFile } from './segment-parquet.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-parquet-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const schema = recordSchema('gw-pq');

function batches(groups: RecordInput[][]): RecordBatch[] {
  let head = { seq: 0, hash: GENESIS_HASH as Uint8Array };
  return groups.map((g) => {
    const e = encodeBatch(schema, 'gw-pq', head, g);
    head = e.head;
    return e.batch;
  });
}

/** What DuckDB reads back from the file, in the record reader's terms. */
async function readBack(path: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    const r = await c.runAndReadAll(`SELECT * REPLACE (lower(hex(hash)) AS hash, lower(hex(prev_hash)) AS prev_hash) FROM read_parquet('${path}')`);
    return r.getRowObjectsJS().map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

const expected = (t: Table) => recordsOf(t).map((r) => Object.fromEntries(COLUMNS.map(([name, type]) => [name, type === 'hash' ? hex(r[name] as Uint8Array) : r[name]])));

describe('segment Parquet', () => {
  it('carries every value of many batches across row groups exactly', async () => {
    const groups = Array.from({ length: 45 }, (_, b) =>
      Array.from({ length: 1000 }, (_, i): RecordInput => {
        const n = b * 1000 + i;
        return { ...sampleStatement(n), rows: n % 3 ? n : null, duration_us: n % 5 ? -n : null, sql: n % 7 ? `SELECT '${'é'.repeat(n % 50)}' -- ${n}` : '', approval_id: n % 2 ? null : `a-${n}` };
      }),
    );
    const table = new Table(batches(groups));
    const path = join(dir, 'many.parquet');
    const { rowGroups } = writeSegmentParquetFile(table, path);
    expect(rowGroups).toBe(2); // 32 batches of 1000 rows, then 13
    expect(await readBack(path)).toEqual(expected(table));
  });

  it('carries nulls across batches of odd sizes (validity bits shifted into place) and extreme length deltas', async () => {
    const sizes = [1, 7, 13, 1000, 3, 9, 64, 5];
    let n = 0;
    const groups = sizes.map((size) =>
      Array.from({ length: size }, (): RecordInput => {
        const i = n++;
        return { ...sampleStatement(i), rows: i % 3 ? i : null, application_name: i % 5 === 1 ? null : `app-${i}`, approval_id: i % 2 ? null : `a-${i}`, error_sqlstate: i % 11 ? null : '57014' };
      }),
    );
    // Lengths 0, 20M, 0: deltas of ±20M need more than 24 bits (the wide packing path).
    groups.push([{ ...sampleStatement(n), sql: '' }, { ...sampleStatement(n + 1), sql: 'x'.repeat(20_000_000) }, { ...sampleStatement(n + 2), sql: '' }]);
    const table = new Table(batches(groups));
    const path = join(dir, 'odd.parquet');
    writeSegmentParquetFile(table, path);
    expect(await readBack(path)).toEqual(expected(table));
  });

  it('takes a null slot with a non-empty range value by value, not as bytes', async () => {
    const [batch] = batches([[sampleStatement(1), { ...sampleStatement(2), application_name: null }, sampleStatement(3)]]);
    const idx = COLUMNS.findIndex(([n]) => n === 'application_name');
    const children = batch!.data.children.slice();
    // psql|junk|psql, the middle one null: a writer may leave bytes under a null slot.
    children[idx] = makeData({ type: new Utf8(), length: 3, nullCount: 1, nullBitmap: new Uint8Array([0b101]), valueOffsets: new Int32Array([0, 4, 8, 12]), data: new TextEncoder().encode('psqljunkpsql') });
    const odd = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: 3, nullCount: 0, children }));
    const path = join(dir, 'junk.parquet');
    writeSegmentParquetFile(new Table([odd]), path);
    expect((await readBack(path)).map((r) => r.application_name)).toEqual(['psql', null, 'psql']);
  });

  it('writes an empty table', async () => {
    const path = join(dir, 'empty.parquet');
    writeSegmentParquetFile(new Table(schema), path);
    expect(await readBack(path)).toEqual([]);
  });
});
