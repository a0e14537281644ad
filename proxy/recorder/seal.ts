// A closed segment's seal: a small JSON file beside it (`<segment>.seal`) that pins the
// segment's bytes (sha256), its records (first/last sequence, the chain hashes at both ends),
// and the seal before it, signed with Ed25519. Deleting, truncating, reordering or editing a
// segment breaks a digest, the sequence or a signature (see verify.ts).
import { createHash, sign, verify, type KeyObject } from 'node:crypto';

export const SEAL_FORMAT = 'auditgate-segment-seal';
export const SEAL_VERSION = 1;

export interface SealBody {
  format: typeof SEAL_FORMAT;
  version: number;
  gateway_id: string;
  /** File name of the segment (no directory): a renamed segment no longer matches. */
  segment: string;
  record_schema_version: number;
  first_seq: number;
  last_seq: number;
  records: number;
  /** prev_hash of the first record: the last hash of the segment before (genesis: zeros). */
  first_prev_hash: string;
  last_hash: string;
  segment_sha256: string;
  segment_bytes: number;
  /** Digest of the previous segment's seal; null for a gateway's first segment. */
  prev_seal_sha256: string | null;
  opened_at: string;
  sealed_at: string;
  /** True when a restart sealed what a crashed gateway left (up to its last complete batch). */
  recovered: boolean;
  key_id: string;
}

export interface Seal extends SealBody {
  /** Ed25519 over the seal digest, base64. */
  signature: string;
}

/** Canonical bytes of the body: JSON with keys in sorted order. */
export function canonicalSealBody(body: SealBody): Buffer {
  const sorted = Object.fromEntries(Object.entries(body).sort(([a], [b]) => (a < b ? -1 : 1)));
  return Buffer.from(JSON.stringify(sorted));
}

export function sealDigest(body: SealBody): string {
  return createHash('sha256').update(canonicalSealBody(body)).digest('hex');
}

export function signSeal(body: SealBody, key: KeyObject): Seal {
  const signature = sign(null, Buffer.from(sealDigest(body), 'hex'), key).toString('base64');
  return { ...body, signature };
}

export function bodyOf(seal: Seal): SealBody {
  const { signature: _s, ...body } = seal;
  return body;
}

export function signatureValid(seal: Seal, key: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(sealDigest(bodyOf(seal)), 'hex'), key, Buffer.from(seal.signature, 'base64'));
  } catch {
    return false;
  }
}
