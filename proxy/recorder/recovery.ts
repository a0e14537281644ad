// Where a gateway's chain stands when it starts: after its last sealed segment, or after the
// last complete batch of a segment a crash left unsealed (which is sealed now, marked
// recovered). Records after that batch were never acknowledged (their fsync did not return),
// so nothing acknowledged is lost. A chain that does not verify stops the start: an operator
// must look before the gateway signs anything on top of it.
import { readFile, unlink } from 'node:fs/promises';
import { GENESIS_HASH, hex } from './chain.js';
import { recomputeHashes } from './column-hash.js';
import type { ChainHead } from './encode.js';
import { listSegments } from './files.js';
import type { SigningKey } from './keys.js';
import { bodyOf, sealDigest, signatureValid, type Seal } from './seal.js';
import { decodeSegment, recordsOf } from './segment-reader.js';
import { SegmentWriter } from './segment-writer.js';

export class RecoveryError extends Error {}

export interface RecoveredChain {
  head: ChainHead;
  prevSeal: string | null;
  /** What recovery did, for the log. */
  notes: string[];
}

export async function recoverChain(dir: string, gatewayId: string, key: SigningKey): Promise<RecoveredChain> {
  const { segments } = await listSegments(dir);
  const mine = segments.filter((s) => s.gatewayId === gatewayId);
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  let prevSeal: string | null = null;
  const notes: string[] = [];
  for (let i = 0; i < mine.length; i++) {
    const seg = mine[i]!;
    const sealText = await readFile(seg.sealPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (sealText !== null) {
      let seal: Seal;
      try {
        seal = JSON.parse(sealText) as Seal;
      } catch {
        throw new RecoveryError(`${seg.sealPath} is not valid JSON`);
      }
      if (seal.key_id === key.keyId && !signatureValid(seal, key.publicKey)) throw new RecoveryError(`${seg.sealPath}: the signature does not verify`);
      head = { seq: seal.last_seq, hash: Buffer.from(seal.last_hash, 'hex') };
      prevSeal = sealDigest(bodyOf(seal));
      continue;
    }
    if (i !== mine.length - 1) throw new RecoveryError(`${seg.name} is not sealed but later segments exist: run \`auditgate verify-log\` and investigate`);
    const contents = decodeSegment(await readFile(seg.path));
    const records = recordsOf(contents.table);
    if (!records.length) {
      await unlink(seg.path);
      notes.push(`removed ${seg.name}: it held no complete batch`);
      break;
    }
    const hashes = recomputeHashes(contents.table);
    let prev = head;
    for (const r of records) {
      if (r.seq !== prev.seq + 1 || hex(r.prev_hash) !== hex(prev.hash)) {
        throw new RecoveryError(`${seg.name}: record ${r.seq} does not follow record ${prev.seq} in the chain`);
      }
      const h = hashes.next().value!.computed;
      if (hex(h) !== hex(r.hash)) throw new RecoveryError(`${seg.name}: record ${r.seq}'s hash does not match its contents`);
      prev = { seq: r.seq, hash: r.hash };
    }
    const first = records[0]!;
    const writer = await SegmentWriter.resume(
      seg.path,
      { gatewayId, firstSeq: first.seq, firstPrevHash: first.prev_hash, prevSealSha256: prevSeal },
      { bytes: contents.framing.end, lastSeq: prev.seq, lastHash: prev.hash, records: records.length },
    );
    const seal = await writer.seal(key, true);
    notes.push(
      `sealed ${seg.name} left unsealed by a previous run: records ${first.seq}-${prev.seq}` +
        (contents.framing.torn ? `, a torn tail of ${contents.bytes.length - contents.framing.end} bytes cut off` : ''),
    );
    head = prev;
    prevSeal = sealDigest(bodyOf(seal));
  }
  return { head, prevSeal, notes };
}
