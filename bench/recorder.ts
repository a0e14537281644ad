// Recording throughput (issue #4 goal: ≥ 500k records/s per core for encoding). Three figures,
// each the median of several runs in one process: Arrow encoding alone (columns built from
// typed arrays, then IPC framing), encoding with the SHA-256 hash chain (what the recorder
// does), and the strict recorder end to end (group-committed fsync to a real file, many
// concurrent appends, as busy sessions produce them).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENESIS_HASH } from '../proxy/recorder/chain.js';
import { ColumnHasher } from '../proxy/recorder/column-hash.js';
import { BatchColumns, encodeBatchMessage } from '../proxy/recorder/encode.js';
import { Recorder } from '../proxy/recorder/recorder.js';
import type { RecordInput } from '../proxy/recorder/schema.js';
import { freshKey, sampleStatement } from '../proxy/recorder/test-support.js';
import type { BenchSuite } from './suite.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A hasher that skips the chain (to measure encoding alone): no canonical walk, no digest. */
class NoChain extends ColumnHasher {
  override hash(): Buffer {
    return Buffer.alloc(32);
  }
}

function encodeRate(groups: RecordInput[][], chained: boolean): number {
  const hasher = chained ? new ColumnHasher() : new NoChain();
  const columns = new BatchColumns();
  let head = { seq: 0, hash: GENESIS_HASH as Uint8Array };
  let n = 0;
  const t0 = performance.now();
  for (const g of groups) {
    // What the recorder does per flush: fill the (reused) columns, chain, write the IPC message.
    const e = encodeBatchMessage('bench', head, g, hasher, columns);
    head = e.head;
    n += g.length;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function strictRate(total: number, concurrency: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'auditgate-bench-rec-'));
  try {
    const r = await Recorder.open({ directory: dir, gatewayId: 'bench', key: freshKey(), durability: 'strict', batchIntervalMs: 50, segmentMaxBytes: 1 << 30, segmentMaxAgeMs: 3_600_000, maxPendingRecords: 1 });
    let next = 0;
    const t0 = performance.now();
    // Each "session" appends and waits for durability before its next record, like a client waiting for its statement.
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total) await r.append(sampleStatement(next++));
    }));
    const seconds = (performance.now() - t0) / 1000;
    await r.close();
    return total / seconds;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const recorderSuite: BenchSuite = {
  name: 'recorder',
  title: 'Recording: Arrow encoding and the strict recorder',
  async run({ short, log }) {
    const total = short ? 20_000 : 500_000;
    // Run-to-run spread on a shared 2-vCPU machine is wide (±30%): many short runs, the median.
    const runs = short ? 1 : 11;
    // Eight sessions in turn, each with its own identity strings, as concurrent sessions reach the
    // recorder: a value repeats from the previous record only where all sessions share it.
    const inputs = Array.from({ length: total }, (_, i) => sampleStatement(i, 8));
    const groups: RecordInput[][] = [];
    for (let i = 0; i < total; i += 1000) groups.push(inputs.slice(i, i + 1000));
    encodeRate(groups.slice(0, 5), true); // warm up
    // A strict recorder's flush holds a few records (what concurrent sessions appended meanwhile).
    const small: RecordInput[][] = [];
    for (let i = 0; i < Math.min(total, 40_000); i += 4) small.push(inputs.slice(i, i + 4));
    const plain: number[] = [];
    const chained: number[] = [];
    const flushes: number[] = [];
    for (let i = 0; i < runs; i++) {
      plain.push(encodeRate(groups, false));
      chained.push(encodeRate(groups, true));
      flushes.push(encodeRate(small, true));
      log(`run ${i + 1}: encoding ${(plain.at(-1)! / 1e3).toFixed(0)}k/s, with chain ${(chained.at(-1)! / 1e3).toFixed(0)}k/s, in batches of 4 ${(flushes.at(-1)! / 1e3).toFixed(0)}k/s`);
    }
    const strict: { c: number; rate: number }[] = [];
    for (const c of short ? [8] : [1, 8, 64]) {
      const rates: number[] = [];
      for (let i = 0; i < (short ? 1 : 3); i++) rates.push(await strictRate(short ? 2000 : c === 1 ? 5000 : 50_000, c));
      strict.push({ c, rate: median(rates) });
      log(`strict, ${c} concurrent: ${(median(rates) / 1e3).toFixed(1)}k records/s`);
    }
    const p = median(plain);
    const ch = median(chained);
    const fl = median(flushes);
    const fmt = (x: number) => `${(x / 1e3).toFixed(0)}k`;
    const verdict = (x: number) => (x >= 500_000 ? 'met' : 'not met');
    return {
      summary: `Arrow encoding ${fmt(p)} records/s (goal ≥ 500k: ${verdict(p)}); with the SHA-256 chain ${fmt(ch)}/s (${verdict(ch)}); strict recorder at 64 concurrent ${fmt(strict.at(-1)!.rate)}/s`,
      markdown: [
        `Median of ${runs} runs over ${total.toLocaleString('en')} statement records (a realistic statement record: identity, session, SQL, facts, decision; ~36 columns) from 8 sessions in turn, each with its own identity, batches of 1,000, one core.`,
        '',
        '| measure | records/s | goal (issue #4) |',
        '| --- | --- | --- |',
        `| Arrow encoding: columns from typed arrays + IPC framing | ${fmt(p)} | ≥ 500k: ${verdict(p)} |`,
        `| encoding + per-record SHA-256 hash chain (what the recorder does) | ${fmt(ch)} | ≥ 500k: ${verdict(ch)} |`,
        `| the same in batches of 4 records (a strict flush: ${((4 / fl) * 1e6).toFixed(0)} µs each) | ${fmt(fl)} | — |`,
        ...strict.map((s) => `| strict recorder, ${s.c} concurrent ${s.c === 1 ? 'appender' : 'appenders'} each awaiting fsync | ${(s.rate / 1e3).toFixed(1)}k | — |`),
        '',
        'Encoding = what the recorder does per flush: fill reused column buffers, chain, and write the Arrow IPC message straight from the',
        'buffers (proxy/recorder/batch-message.ts: the bytes apache-arrow\'s writer produces, without its ~100 µs fixed cost per batch).',
        'The columns are filled by one loop generated from the schema (a property read per field, not record[name]); short ASCII strings',
        'are written by a plain loop and a value equal to the previous record\'s is copied from its bytes; other strings go to Buffer\'s',
        'UTF-8 encoder. What bounds encoding now: writing the string bytes (most of a profile of the plain run).',
        'What bounds the chain: per record, gathering its canonical bytes from the column buffers and one SHA-256 call in Node\'s crypto',
        '(~500 bytes), each about a third of a profile of the chained run. The strict figures are bound by fsync: concurrent appenders',
        'share one sync (group commit), so throughput grows with concurrency while one appender waits a full sync per record.',
      ].join('\n'),
    };
  },
};
