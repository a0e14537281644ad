// The recorder's own IPC message writer against apache-arrow's: the same bytes, so every Arrow
// reader (collectors, verify-log, DuckDB via Parquet) reads the segments as before.
import { RecordBatchReader } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH } from './chain.js';
import { buildTemplate } from './batch-message.js';
import { BatchColumns, encodeBatch, encodeBatchMessage } from './encode.js';
import { StreamEncoder } from './ipc.js';
import { recordSchema, type RecordInput } from './schema.js';
import { sampleStatement } from './test-support.js';

const head = { seq: 41, hash: GENESIS_HASH };

function both(inputs: RecordInput[]) {
  const schema = recordSchema('gw-msg');
  const enc = new StreamEncoder(schema);
  const header = enc.header();
  const theirs = enc.encode(encodeBatch(schema, 'gw-msg', head, inputs).batch);
  const ours = encodeBatchMessage('gw-msg', head, inputs);
  return { header, theirs, ours };
}

describe('encodeBatchMessage', () => {
  it('writes the bytes apache-arrow writes, for one record and for many with nulls and non-ASCII text', () => {
    const ts = 1_700_000_000_000_000;
    for (const inputs of [
      [{ ...sampleStatement(1), ts }],
      Array.from({ length: 37 }, (_, i) => ({ ...sampleStatement(i), ts: ts + i, sql: i % 3 ? `SELECT 'é${i}'` : null, rows: i % 2 ? i : null })),
    ] as RecordInput[][]) {
      const { theirs, ours } = both(inputs);
      expect(ours.bytes.equals(theirs)).toBe(true);
      expect(ours.bytes.length % 8).toBe(0);
    }
  });

  it('patches a template for the record layout (not apache-arrow per batch)', () => {
    const layout = recordSchema('gw-msg').fields.map((f) => (String(f.type) === 'Utf8' ? 3 : 2));
    const t = buildTemplate(layout);
    expect(t).not.toBeNull();
    expect(t!.at).toHaveLength(2 * layout.length + 2 * layout.reduce((a, b) => a + b, 0) + 2);
  });

  it('leaves nothing of an earlier batch in reused columns', () => {
    const reuse = new BatchColumns(4);
    const ts = 1_700_000_000_000_000;
    const full = Array.from({ length: 9 }, (_, i) => ({ ...sampleStatement(i), ts, rows: 1000 + i, sql: `SELECT ${'x'.repeat(200)}` }));
    const sparse = Array.from({ length: 3 }, (_, i) => ({ ...sampleStatement(i), ts, rows: null, sql: null, fingerprint: null }));
    encodeBatchMessage('gw-msg', head, full, undefined, reuse);
    const reused = encodeBatchMessage('gw-msg', head, sparse, undefined, reuse).bytes;
    expect(reused.equals(encodeBatchMessage('gw-msg', head, sparse).bytes)).toBe(true);
    expect(reused.equals(both(sparse).theirs)).toBe(true);
  });

  it('reads back as the records it was given, chained after the head', () => {
    const inputs = Array.from({ length: 5 }, (_, i) => sampleStatement(i));
    const { header, ours } = both(inputs);
    const table = RecordBatchReader.from(Buffer.concat([header, ours.bytes])).readAll()[0]!;
    expect(table.numRows).toBe(5);
    expect(Number(table.getChild('seq')!.get(0))).toBe(42);
    expect(table.getChild('sql')!.get(3)).toBe(inputs[3]!.sql);
    expect(ours.head.seq).toBe(46);
  });
});
