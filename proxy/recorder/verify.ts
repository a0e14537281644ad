// Integrity verification of recorded segments: every seal's signature, every segment's digest,
// every record's hash, the chain within and across segments, sequence gaps and overlaps,
// truncation, renamed (reordered) or duplicated segments, seals whose segment is gone.
// verify-log prints the result; collectors verify each segment this way before landing it.
import { createHash, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Table } from 'apache-arrow';
import { GENESIS_HASH, hex } from './chain.js';
import { ColumnHasher, HASH_INDEX, PREV_INDEX, viewsOfBatch } from './column-hash.js';
import { COLUMNS } from './schema.js';
import { keyIdOf } from './keys.js';
import { listSegments, type SegmentFile } from './files.js';
import { SEAL_FORMAT, bodyOf, sealDigest, signatureValid, type Seal } from './seal.js';
import { decodeSegment, SegmentReadError } from './segment-reader.js';

export type FindingCode =
  | 'unsealed' // no seal: the gateway is still writing it, or crashed and has not restarted
  | 'bad_seal' // the seal is unreadable or malformed
  | 'wrong_key' // signed by a key other than the one given
  | 'bad_signature'
  | 'renamed' // the seal names another file: segments renamed or reordered
  | 'digest_mismatch' // bytes changed or truncated after sealing
  | 'undecodable'
  | 'torn' // bytes after the last complete batch
  | 'bad_record' // a record's hash does not match its contents
  | 'chain_break' // a record's prev_hash is not the hash of the record before it
  | 'sequence_gap' // records or whole segments missing
  | 'sequence_overlap' // the same sequence numbers twice: a duplicated or replayed segment
  | 'seal_mismatch' // the seal's figures disagree with the records
  | 'seal_chain_break' // the seal does not name the previous seal
  | 'missing_start' // the chain does not start at the gateway's first record
  | 'orphan_seal'; // a seal without its segment: the segment was deleted

export interface Finding {
  code: FindingCode;
  segment: string | null;
  gatewayId: string | null;
  message: string;
}

/** Where the chain stands before a segment: what verified (or landed) last. */
export interface ChainPoint {
  seq: number;
  hash: string;
  sealSha256: string | null;
}

export const genesisPoint = (): ChainPoint => ({ seq: 0, hash: hex(GENESIS_HASH), sealSha256: null });

export interface SegmentVerification {
  file: SegmentFile;
  seal: Seal | null;
  findings: Finding[];
  /** The decoded records (complete batches), when the segment could be decoded. */
  table: Table | null;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The chain after this segment, as far as it verified (null: nothing to continue from). */
  end: ChainPoint | null;
  segmentSha256: string;
}

/**
 * Verifies one segment against the chain point before it (null: unknown, e.g. a first collect
 * after retention). `bytes`: the file's contents when the caller read them ahead (collect reads
 * the next segment while this one verifies).
 */
export async function verifySegmentFile(file: SegmentFile, key: KeyObject, before: ChainPoint | null, bytes?: Buffer): Promise<SegmentVerification> {
  const findings: Finding[] = [];
  const add = (code: FindingCode, message: string) => findings.push({ code, segment: file.name, gatewayId: file.gatewayId, message });
  bytes ??= await readFile(file.path);
  const segmentSha256 = createHash('sha256').update(bytes).digest('hex');
  const result: SegmentVerification = { file, seal: null, findings, table: null, records: 0, firstSeq: null, lastSeq: null, end: null, segmentSha256 };

  const seal = await readSeal(file, add);
  result.seal = seal;
  if (seal) {
    if (seal.key_id !== keyIdOf(key)) add('wrong_key', `sealed with key ${seal.key_id.slice(0, 16)}…, not the given public key (${keyIdOf(key).slice(0, 16)}…)`);
    else if (!signatureValid(seal, key)) add('bad_signature', 'the seal\'s signature does not verify');
    if (seal.segment !== file.name) add('renamed', `the seal belongs to ${seal.segment}: segments were renamed or reordered`);
    if (seal.gateway_id !== file.gatewayId) add('renamed', `the seal names gateway ${seal.gateway_id}`);
    if (seal.segment_sha256 !== segmentSha256 || seal.segment_bytes !== bytes.length) {
      add('digest_mismatch', bytes.length < seal.segment_bytes ? `truncated: ${bytes.length} of ${seal.segment_bytes} bytes` : 'the bytes differ from what was sealed');
    }
  }

  let decoded;
  try {
    decoded = decodeSegment(bytes);
  } catch (err) {
    add('undecodable', err instanceof SegmentReadError ? err.message : `cannot read: ${(err as Error).message}`);
    return result;
  }
  result.table = decoded.table;
  if (decoded.framing.torn || (seal && !decoded.framing.closed)) {
    add('torn', `${bytes.length - decoded.framing.end} bytes after the last complete batch${decoded.framing.closed ? '' : ' (no end-of-stream marker)'}`);
  }
  if (decoded.gatewayId !== file.gatewayId) add('renamed', `the records belong to gateway ${decoded.gatewayId}`);

  // Straight from the column buffers: no per-record objects (collect verifies millions).
  const hasher = new ColumnHasher();
  const SEQ = COLUMNS.findIndex(([n]) => n === 'seq');
  // The record before: its seq, and its hash as 32 bytes of `prevHash` at `prevAt` (no per-record objects).
  let prevSeq = before ? before.seq : 0;
  let prevHash: Uint8Array | null = before ? Buffer.from(before.hash, 'hex') : null;
  let prevAt = 0;
  let first: { seq: number; prevHash: Uint8Array } | null = null;
  let count = 0;
  let intact = true;
  for (const batch of decoded.table.batches) {
    // Between batches, let the event loop run: collect's DuckDB statements wait on this thread to
    // be sent, and a segment verified in one go held them back for its whole half second.
    if (count > 0) await yieldToEventLoop();
    const views = viewsOfBatch(batch.data.children);
    const seqWords = views[SEQ]!.words!;
    const prevBytes = views[PREV_INDEX]!.bytes!;
    const hashBytes = views[HASH_INDEX]!.bytes!;
    for (let i = 0; i < batch.numRows; i++, count++) {
      const seq = seqWords[2 * i + 1]! * 0x1_0000_0000 + (seqWords[2 * i]! >>> 0);
      const storedPrev = prevBytes.subarray(32 * i, 32 * i + 32);
      first ??= { seq, prevHash: storedPrev };
      if (!sameBytesAt(hasher.hash(views, i, storedPrev), 0, hashBytes, 32 * i)) {
        add('bad_record', `record ${seq}: its hash does not match its contents`);
        intact = false;
      }
      if (prevHash) {
        if (seq > prevSeq + 1) add('sequence_gap', `records ${prevSeq + 1}-${seq - 1} are missing`);
        else if (seq <= prevSeq) add('sequence_overlap', `record ${seq} comes after record ${prevSeq}`);
        if (!sameBytesAt(prevBytes, 32 * i, prevHash, prevAt)) {
          add('chain_break', `record ${seq} does not chain to record ${prevSeq}`);
          intact = false;
        }
      }
      prevSeq = seq;
      prevHash = hashBytes;
      prevAt = 32 * i;
    }
  }
  result.records = count;
  result.firstSeq = first?.seq ?? null;
  result.lastSeq = count ? prevSeq : null;
  const last = count && prevHash ? { seq: prevSeq, hash: hex(prevHash.subarray(prevAt, prevAt + 32)) } : null;

  if (seal) {
    if (seal.records !== count || (first && seal.first_seq !== first.seq) || (last && seal.last_seq !== last.seq) || (last && seal.last_hash !== last.hash)) {
      add('seal_mismatch', `the seal says records ${seal.first_seq}-${seal.last_seq} (${seal.records}); the segment holds ${count}${first ? ` from ${first.seq}` : ''}`);
    }
    if (first && seal.first_prev_hash !== hex(first.prevHash)) add('seal_mismatch', 'the seal\'s first_prev_hash is not the first record\'s prev_hash');
    if (before && seal.prev_seal_sha256 !== before.sealSha256) {
      add('seal_chain_break', before.sealSha256 ? 'the seal does not name the previous segment\'s seal: a segment before it is missing or was replaced' : 'the seal names a previous seal, but this is the first segment');
    }
    if (before && seal.first_seq !== before.seq + 1) {
      add(seal.first_seq > before.seq + 1 ? 'sequence_gap' : 'sequence_overlap', seal.first_seq > before.seq + 1 ? `records ${before.seq + 1}-${seal.first_seq - 1} are missing (a segment deleted?)` : `starts at ${seal.first_seq}, but records up to ${before.seq} came before (a duplicated segment?)`);
    }
  } else {
    add('unsealed', 'not sealed: the gateway is still writing it, or stopped without sealing (restart it to recover)');
  }
  if (intact && last) {
    const sealSha256 = seal ? sealDigest(bodyOf(seal)) : null;
    result.end = { seq: last.seq, hash: last.hash, sealSha256 };
  } else if (intact && seal && count === 0 && before) {
    result.end = { ...before, sealSha256: sealDigest(bodyOf(seal)) };
  }
  return result;
}

async function readSeal(file: SegmentFile, add: (code: FindingCode, m: string) => void): Promise<Seal | null> {
  let text: string;
  try {
    text = await readFile(file.sealPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    add('bad_seal', `cannot read the seal: ${(err as Error).message}`);
    return null;
  }
  try {
    const seal = JSON.parse(text) as Seal;
    if (seal.format !== SEAL_FORMAT || typeof seal.signature !== 'string' || typeof seal.segment_sha256 !== 'string') throw new Error('not an auditgate seal');
    return seal;
  } catch (err) {
    add('bad_seal', `the seal is malformed: ${(err as Error).message}`);
    return null;
  }
}

export interface DirectoryReport {
  directory: string;
  segments: SegmentVerification[];
  findings: Finding[];
  gateways: { gatewayId: string; segments: number; records: number; firstSeq: number | null; lastSeq: number | null }[];
}

export interface VerifyOptions {
  /** Accept an unsealed last segment per gateway (a gateway that is running). */
  allowOpen?: boolean;
  /** Chain points to continue from per gateway (segments before them were removed by retention). */
  startAfter?: Map<string, ChainPoint>;
  onSegment?: (v: SegmentVerification, index: number, total: number) => void;
}

export async function verifyDirectory(dir: string, key: KeyObject, opts: VerifyOptions = {}): Promise<DirectoryReport> {
  const { segments, strays } = await listSegments(dir);
  const report: DirectoryReport = { directory: dir, segments: [], findings: [], gateways: [] };
  for (const s of strays) report.findings.push({ code: 'orphan_seal', segment: s, gatewayId: null, message: `${s} has no segment: the segment was deleted` });
  const byGateway = new Map<string, SegmentFile[]>();
  for (const s of segments) byGateway.set(s.gatewayId, [...(byGateway.get(s.gatewayId) ?? []), s]);
  let index = 0;
  for (const [gatewayId, files] of byGateway) {
    let point: ChainPoint | null = opts.startAfter?.get(gatewayId) ?? genesisPoint();
    let records = 0;
    const g = { gatewayId, segments: files.length, records: 0, firstSeq: null as number | null, lastSeq: null as number | null };
    for (let i = 0; i < files.length; i++) {
      const v = await verifySegmentFile(files[i]!, key, point);
      if (i === 0 && !opts.startAfter?.has(gatewayId) && v.firstSeq !== null && v.firstSeq !== 1) {
        // Reported once, as missing_start rather than as a gap from genesis.
        v.findings = v.findings.filter((f) => f.code !== 'sequence_gap' && f.code !== 'seal_chain_break' && f.code !== 'chain_break');
        v.findings.push({ code: 'missing_start', segment: v.file.name, gatewayId, message: `the chain starts at record ${v.firstSeq}: the segments before it are missing` });
      }
      if (opts.allowOpen && i === files.length - 1) v.findings = v.findings.filter((f) => f.code !== 'unsealed');
      report.segments.push(v);
      report.findings.push(...v.findings);
      opts.onSegment?.(v, index++, segments.length);
      records += v.records;
      g.firstSeq ??= v.firstSeq;
      g.lastSeq = v.lastSeq ?? g.lastSeq;
      // A damaged segment is reported once: the next one is checked against what this one's seal claims.
      point = v.end ?? (v.seal ? { seq: v.seal.last_seq, hash: v.seal.last_hash, sealSha256: sealDigest(bodyOf(v.seal)) } : null);
    }
    g.records = records;
    report.gateways.push(g);
  }
  return report;
}

/** The 32 bytes of `a` at `ai` equal those of `b` at `bi`. */
function sameBytesAt(a: Uint8Array, ai: number, b: Uint8Array, bi: number): boolean {
  for (let k = 0; k < 32; k++) if (a[ai + k] !== b[bi + k]) return false;
  return true;
}
