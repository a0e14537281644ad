// Reads a segment back: its framing (where the last complete batch ends), its schema metadata,
// and its records column by column. Used by recovery, verify-log, collectors and replay.
import { readFile } from 'node:fs/promises';
import { tableFromIPC, type Table, type Vector } from 'apache-arrow';
import { EOS, walkFraming, type Framing } from './ipc.js';
import { COLUMNS, META_FORMAT, META_GATEWAY, META_VERSION, RECORD_FORMAT, RECORD_SCHEMA_VERSION, type ColumnName, type StoredRecord } from './schema.js';

export class SegmentReadError extends Error {}

export interface SegmentContents {
  bytes: Buffer;
  framing: Framing;
  gatewayId: string;
  schemaVersion: number;
  table: Table;
}

export async function readSegment(path: string): Promise<SegmentContents> {
  return decodeSegment(await readFile(path));
}

/** Decodes the complete batches; a torn tail is reported in `framing`, not thrown. */
export function decodeSegment(bytes: Buffer): SegmentContents {
  const framing = walkFraming(bytes);
  if (framing.end === 0) throw new SegmentReadError('not an Arrow IPC stream (no complete schema message)');
  const complete = framing.closed ? bytes.subarray(0, framing.end + EOS.length) : Buffer.concat([bytes.subarray(0, framing.end), EOS]);
  let table: Table;
  try {
    table = tableFromIPC(complete);
  } catch (err) {
    throw new SegmentReadError(`undecodable Arrow data: ${(err as Error).message}`);
  }
  const meta = table.schema.metadata;
  if (meta.get(META_FORMAT) !== RECORD_FORMAT) throw new SegmentReadError(`not an auditgate record segment (format ${JSON.stringify(meta.get(META_FORMAT) ?? null)})`);
  const schemaVersion = Number(meta.get(META_VERSION));
  if (schemaVersion !== RECORD_SCHEMA_VERSION) {
    throw new SegmentReadError(`record schema version ${meta.get(META_VERSION)}; this auditgate reads version ${RECORD_SCHEMA_VERSION}`);
  }
  for (const [name] of COLUMNS) {
    if (!table.getChild(name)) throw new SegmentReadError(`column ${name} is missing`);
  }
  return { bytes, framing, gatewayId: meta.get(META_GATEWAY) ?? '', schemaVersion, table };
}

/** Every record as a plain object (int64 columns as numbers, hashes as bytes). */
export function recordsOf(table: Table): StoredRecord[] {
  const n = table.numRows;
  const cols = COLUMNS.map(([name, type]) => [name, type, columnValues(table.getChild(name)!, type, n)] as const);
  const out: StoredRecord[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const r: Record<string, unknown> = {};
    for (const [name, , values] of cols) r[name] = values[i];
    out[i] = r as StoredRecord;
  }
  return out;
}

function columnValues(v: Vector, type: string, n: number): unknown[] {
  const out: unknown[] = new Array(n);
  if (type === 'int64' || type === 'timestamp') {
    // The raw 64-bit values: Vector.get turns timestamps into float milliseconds, losing microseconds.
    let i = 0;
    for (const d of v.data) {
      const values = d.values as BigInt64Array;
      for (let j = 0; j < d.length; j++, i++) out[i] = d.getValid(j) ? Number(values[j]) : null;
    }
    return out;
  }
  for (let i = 0; i < n; i++) out[i] = v.get(i) ?? null;
  return out;
}

export type { ColumnName };
