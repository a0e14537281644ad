// The recorder's own IPC message writer against apache-arrow's: the same bytes, so every Arrow
// reader (collectors, verify-log, DuckDB via Parquet) reads the segments as before.
import { RecordBatchReader, Table } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, RecordHasher } from './chain.js';
import { buildTemplate } from './batch-message.js';
import { BatchColumns, encodeBatch, encodeBatchMessage } from './encode.js';
import { StreamEncoder } from './ipc.js';
import { recordSchema, type RecordInput } from './schema.js';
import { recordsOf } from './segment-reader.js';
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

  it('writes every kind of string as its UTF-8 (short ASCII loop, repeats copied, the encoder for the rest): values and chain hashes read back', () => {
    const long = 'SELECT ' + 'abcdefghij'.repeat(20); // > 128 characters, ASCII
    const texts: (string | null)[] = [
      'agent:a', 'agent:a', 'agent:a', // the same value in a row: copied from the previous record
      null, 'agent:a', // a repeat after a null
      '', '', 'é', 'é', 'ü-ñicode ✓', 'x'.repeat(127) + 'é', // empty, non-ASCII short and at the loop's edge
      long, long, long + 'é', 'é' + long, // long ASCII and long non-ASCII
      'a\ud800b', // a lone surrogate: the encoder's replacement character, as before
      `${'k'}-${1}`, 'k-1', // equal text from different string objects
    ];
    const inputs: RecordInput[] = texts.map((t, i) => ({ ...sampleStatement(i, 3), ts: 1_700_000_000_000_000 + i, subject: t, sql: t, claims: texts[(i + 5) % texts.length]! }));
    const small = new BatchColumns(1); // grows while it copies repeats
    const { header } = both(inputs);
    for (const ours of [encodeBatchMessage('gw-msg', head, inputs), encodeBatchMessage('gw-msg', head, inputs, undefined, small)]) {
      const table = RecordBatchReader.from(Buffer.concat([header, ours.bytes])).readAll()[0]!;
      const replaced = (t: string | null) => (t === null ? null : Buffer.from(t, 'utf8').toString('utf8'));
      expect(Array.from({ length: texts.length }, (_, i) => table.getChild('subject')!.get(i))).toEqual(texts.map(replaced));
      expect(Array.from({ length: texts.length }, (_, i) => table.getChild('sql')!.get(i))).toEqual(texts.map(replaced));
      expect(Array.from({ length: texts.length }, (_, i) => table.getChild('claims')!.get(i))).toEqual(texts.map((_, i) => replaced(texts[(i + 5) % texts.length]!)));
      // The chain hashes, computed from the column bytes, equal the reference computed from the values.
      const h = new RecordHasher();
      for (const rec of recordsOf(new Table(table))) expect(Buffer.from(h.hash(rec)).toString('hex')).toBe(Buffer.from(rec.hash).toString('hex'));
    }
  });
});
