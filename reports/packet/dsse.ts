// The manifest's signature: an in-toto Statement v1 whose subject is manifest.json, in a
// DSSE envelope signed with Ed25519 over the DSSE pre-authentication encoding (PAE). Any
// DSSE/in-toto tool (cosign verify-blob-attestation, in-toto-attestation, securesystemslib)
// can read it; see VERIFY.md for the steps by hand.
import { sign, verify, type KeyObject } from 'node:crypto';
import { keyIdOf } from '../../proxy/recorder/keys.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PREDICATE_TYPE = 'https://auditgate.dev/packet/v1';
export const PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface Statement {
  _type: string;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

export interface DsseEnvelope {
  payloadType: string;
  /** base64 (standard) of the serialized statement. */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** DSSE v1 PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes as ASCII decimal. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

export function makeStatement(manifestSha256: string, predicate: Record<string, unknown>): Statement {
  return { _type: STATEMENT_TYPE, subject: [{ name: 'manifest.json', digest: { sha256: manifestSha256 } }], predicateType: PREDICATE_TYPE, predicate };
}

export function signStatement(statement: Statement, privateKey: KeyObject, publicKey: KeyObject): DsseEnvelope {
  const payload = Buffer.from(JSON.stringify(statement), 'utf8');
  const sig = sign(null, pae(PAYLOAD_TYPE, payload), privateKey);
  return { payloadType: PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: keyIdOf(publicKey), sig: sig.toString('base64') }] };
}

export type EnvelopeCheck =
  | { ok: true; statement: Statement; keyid: string }
  | { ok: false; code: 'malformed_envelope' | 'bad_signature' | 'foreign_key'; message: string; statement?: Statement };

/**
 * Checks the envelope against one trusted public key: a signature by that key over the PAE
 * must verify. `foreign_key` when no signature names this key and none verifies with it.
 */
export function verifyEnvelope(raw: unknown, publicKey: KeyObject): EnvelopeCheck {
  const env = raw as Partial<DsseEnvelope> | null;
  if (!env || typeof env !== 'object' || typeof env.payloadType !== 'string' || typeof env.payload !== 'string' || !Array.isArray(env.signatures)) {
    return { ok: false, code: 'malformed_envelope', message: 'not a DSSE envelope (payloadType, payload, signatures)' };
  }
  if (env.payloadType !== PAYLOAD_TYPE) return { ok: false, code: 'malformed_envelope', message: `payloadType is ${env.payloadType}, expected ${PAYLOAD_TYPE}` };
  const payload = Buffer.from(env.payload, 'base64');
  let statement: Statement | undefined;
  try {
    statement = JSON.parse(payload.toString('utf8')) as Statement;
  } catch {
    statement = undefined;
  }
  const message = pae(env.payloadType, payload);
  const want = keyIdOf(publicKey);
  let named = false;
  for (const s of env.signatures) {
    if (!s || typeof s.sig !== 'string') continue;
    if (s.keyid === want) named = true;
    let good = false;
    try {
      good = verify(null, message, publicKey, Buffer.from(s.sig, 'base64'));
    } catch {
      good = false;
    }
    if (good) {
      if (!statement || statement._type !== STATEMENT_TYPE || statement.predicateType !== PREDICATE_TYPE || !Array.isArray(statement.subject)) {
        return { ok: false, code: 'malformed_envelope', message: `the signed payload is not an in-toto ${STATEMENT_TYPE} statement of type ${PREDICATE_TYPE}` };
      }
      return { ok: true, statement, keyid: want };
    }
  }
  if (!named) {
    const ids = env.signatures.map((s) => s?.keyid).filter(Boolean).join(', ') || 'none';
    return { ok: false, code: 'foreign_key', message: `the manifest is signed by key ${ids}, not by the trusted key ${want}`, ...(statement ? { statement } : {}) };
  }
  return { ok: false, code: 'bad_signature', message: `the signature by key ${want} does not verify: the signed statement or the signature was changed`, ...(statement ? { statement } : {}) };
}
