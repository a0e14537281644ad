// Shared by the recorder's tests and benchmarks: a key pair and realistic records.
import { generateKeyPairSync } from 'node:crypto';
import { keyIdOf, type SigningKey } from './keys.js';
import type { RecordInput } from './schema.js';

export function freshKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

/** Per-session strings, one instance each, as a gateway session holds them. */
const sessionFields = new Map<number, { subject: string; claims: string; client_addr: string; application_name: string }>();
function fieldsOf(session: number) {
  let f = sessionFields.get(session);
  if (!f) {
    f = {
      subject: `agent:claude-code-${session}`,
      claims: `{"model":"claude","repository":"acme/shop-${session}","ticket":"OPS-${session}"}`,
      client_addr: `10.0.${session >> 8}.${session & 255}`,
      application_name: session % 2 ? 'psql' : 'node-postgres',
    };
    sessionFields.set(session, f);
  }
  return f;
}

/**
 * A statement record as the gateway writes one (identity and session fields filled). With
 * `sessions` > 1, consecutive records come from that many sessions in turn (each with its own
 * identity), as a gateway's recorder sees concurrent sessions; by default they share one identity.
 */
export function sampleStatement(i: number, sessions = 1): RecordInput {
  const own = sessions > 1 ? fieldsOf(i % sessions) : null;
  return {
    kind: 'statement',
    session_id: `s-${Math.floor(i / 100)}`,
    statement_id: i % 100,
    subject: own?.subject ?? 'agent:claude-code',
    issuer: 'https://auditgate.dev/dev-issuer',
    identity_kind: 'agent',
    groups: '["agents","agent-writers"]',
    claims: own?.claims ?? '{"model":"claude","repository":"acme/shop","ticket":"OPS-1"}',
    client_addr: own?.client_addr ?? '127.0.0.1',
    application_name: own?.application_name ?? 'psql',
    database: 'shop',
    upstream_role: 'auditgate_reader',
    sql: `SELECT id, email FROM customers WHERE id = ${i}`,
    fingerprint: 'a1b2c3d4e5f60718',
    protocol: 'simple',
    statement_kind: 'select',
    command_tag: 'SELECT',
    tables: '[{"schema":null,"name":"customers","access":"read"}]',
    functions: '[]',
    decision: 'allow',
    reasons: '[]',
    bundle_sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  };
}
