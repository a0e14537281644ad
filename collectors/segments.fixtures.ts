// Real segments for the collector's tests and benchmark: a scripted workload written by the real
// Recorder (sessions, allowed, denied and held statements, an approval, masking, a refused
// connection, privileged statements), in the shapes the gateway's session recorder writes.
import { Recorder, type RecorderOptions } from '../proxy/recorder/recorder.js';
import type { SigningKey } from '../proxy/recorder/keys.js';
import type { RecordInput } from '../proxy/recorder/schema.js';

export const BUNDLE_A = 'a'.repeat(64);
export const BUNDLE_B = 'b'.repeat(64);
/** 2025-03-03T10:00:00Z in microseconds: the workload's clock starts here. */
export const T0 = Date.UTC(2025, 2, 3, 10, 0, 0) * 1000;

const agent = {
  subject: 'agent:claude-code',
  issuer: 'https://idp.acme.test',
  identity_kind: 'agent',
  groups: '["agents"]',
  claims: '{"model":"claude-sonnet-4","repository":"acme/shop","ticket":"OPS-42"}',
  client_addr: '10.0.0.7',
  application_name: 'psql',
  database: 'shop',
  upstream_role: 'auditgate_reader',
};
const alice = {
  subject: 'human:alice',
  issuer: 'https://idp.acme.test',
  identity_kind: 'human',
  groups: '["dba"]',
  claims: '{}',
  client_addr: '10.0.0.9',
  application_name: 'DBeaver',
  database: 'shop',
  upstream_role: 'auditgate_writer',
};

const tables = (...t: [string | null, string, string][]) => JSON.stringify(t.map(([schema, name, access]) => ({ schema, name, access })));

/** The scripted workload, in recording order (each record's ts is T0 + its index in seconds). */
export function scriptedWorkload(): RecordInput[] {
  const s1 = { ...agent, session_id: 'sess-agent-1' };
  const s2 = { ...alice, session_id: 'sess-alice-1' };
  const stmt = (fields: typeof s1, id: number, sql: string, kind: string, tag: string, t: string, decision: string, extra: Partial<RecordInput> = {}): RecordInput => ({
    kind: 'statement',
    ...fields,
    statement_id: id,
    sql,
    fingerprint: `fp-${kind}-${id}`,
    protocol: 'simple',
    statement_kind: kind,
    command_tag: tag,
    tables: t,
    functions: '[]',
    decision,
    reasons: decision === 'deny' ? '["writes need the agent-writers group"]' : decision === 'approval_required' ? '["approval required: production write"]' : '[]',
    bundle_sha256: BUNDLE_A,
    ...extra,
  });
  const end = (fields: typeof s1, id: number, extra: Partial<RecordInput>): RecordInput => ({ kind: 'statement_end', session_id: fields.session_id, subject: fields.subject, statement_id: id, duration_us: 1500 + id, ...extra });
  const list: RecordInput[] = [
    { kind: 'bundle_loaded', bundle_sha256: BUNDLE_A, detail: JSON.stringify({ source: 'policies/dist/auditgate.tar.gz', manifest: { revision: 'rev-1', roots: ['auditgate'] } }) },
    { kind: 'session_start', ...s1, decision: 'allow', reasons: '[]', bundle_sha256: BUNDLE_A, detail: JSON.stringify({ tls: true, read_only: true, max_session_seconds: 3600, target: 'prod', environment: 'production' }) },
    stmt(s1, 1, 'SELECT id, email FROM public.customers LIMIT 3', 'select', 'SELECT', tables(['public', 'customers', 'read']), 'allow'),
    end(s1, 1, { rows: 3, masked: JSON.stringify([{ column: 'public.customers.email', method: 'email', reason: 'pii', count: 3 }]), detector_hits: '{"email":1}' }),
    stmt(s1, 2, 'DELETE FROM orders', 'delete', 'DELETE', tables([null, 'orders', 'write']), 'deny'),
    // As the gateway records a held statement (proxy/server.ts approvalRecord, the relay's throughApproval):
    // the held attempt and the release are statement records carrying the request's id.
    stmt(s1, 3, "UPDATE customers SET phone = '555' WHERE id = 7", 'update', 'UPDATE', tables([null, 'customers', 'write']), 'approval_required', { approval_id: 'appr-1' }),
    { kind: 'approval', ...s1, approval_id: 'appr-1', decision: 'requested', detail: JSON.stringify({ event: 'requested', approvers: ['dba'], required_approvals: 1, reason: 'production write', ttl_seconds: 900 }) },
    { kind: 'approval', ...s1, approval_id: 'appr-1', decision: 'approved', detail: JSON.stringify({ event: 'approved', by: 'human:alice', approvers: ['dba'], required_approvals: 1 }) },
    { kind: 'approval', ...s1, approval_id: 'appr-1', decision: 'released', detail: JSON.stringify({ event: 'released' }) },
    stmt(s1, 4, "UPDATE customers SET phone = '555' WHERE id = 7", 'update', 'UPDATE', tables([null, 'customers', 'write']), 'approved', { approval_id: 'appr-1' }),
    end(s1, 4, { rows: 1 }),
    stmt(s1, 5, 'SELECT count(*) FROM customers', 'select', 'SELECT', tables([null, 'customers', 'read']), 'allow'),
    end(s1, 5, { rows: 1 }),
    stmt(s1, 6, 'SELECT ssn FROM public.customers WHERE id = 1', 'select', 'SELECT', tables(['public', 'customers', 'read']), 'allow'),
    end(s1, 6, { rows: 1, masked: '{"public.customers.ssn":1}' }),
    stmt(s1, 7, 'SELECT pg_sleep(100)', 'select', 'SELECT', '[]', 'allow', { functions: '["pg_sleep"]' }),
    end(s1, 7, { rows: null, error_sqlstate: '57014' }),
    stmt(s1, 8, 'SELECT * FROM orders', 'select', 'SELECT', tables([null, 'orders', 'read']), 'allow'),
    { kind: 'session_end', session_id: s1.session_id, subject: s1.subject, duration_us: 60_000_000, detail: JSON.stringify({ reason: 'client closed the connection', statements: 8 }) },
    { kind: 'session_start', ...s2, decision: 'allow', reasons: '[]', bundle_sha256: BUNDLE_A, detail: JSON.stringify({ tls: true, read_only: false, max_session_seconds: 28800 }) },
    stmt(s2, 1, 'CREATE TABLE audit_notes (id int)', 'ddl', 'CREATE TABLE', tables([null, 'audit_notes', 'ddl']), 'allow'),
    end(s2, 1, { rows: 0 }),
    stmt(s2, 2, 'SELECT pg_terminate_backend(4242)', 'select', 'SELECT', '[]', 'allow', { functions: '["pg_catalog.pg_terminate_backend"]' }),
    end(s2, 2, { rows: 1 }),
    stmt(s2, 3, 'GRANT SELECT ON orders TO bob', 'privilege', 'GRANT', tables([null, 'orders', 'ddl']), 'deny'),
    { kind: 'bundle_loaded', bundle_sha256: BUNDLE_B, detail: JSON.stringify({ source: 'policies/dist/auditgate.tar.gz', manifest: { revision: 'rev-2', roots: ['auditgate'] } }) },
    stmt(s2, 4, 'SELECT email FROM customers', 'select', 'SELECT', tables([null, 'customers', 'read']), 'allow', { bundle_sha256: BUNDLE_B }),
    end(s2, 4, { rows: 2 }),
    { kind: 'session_end', session_id: s2.session_id, subject: s2.subject, duration_us: 30_000_000, detail: JSON.stringify({ reason: 'client closed the connection', statements: 4 }) },
    {
      kind: 'session_start',
      subject: 'agent:rogue',
      issuer: 'https://evil.example',
      identity_kind: 'agent',
      groups: '[]',
      claims: '{}',
      client_addr: '203.0.113.5',
      decision: 'deny',
      reasons: '["untrusted issuer https://evil.example"]',
      error_sqlstate: '28000',
      bundle_sha256: BUNDLE_B,
      detail: '{"user":"agent","tls":true}',
    },
  ];
  return list.map((r, i) => ({ ...r, ts: T0 + i * 1_000_000 }));
}

export function recorderOptions(directory: string, key: SigningKey, over: Partial<RecorderOptions> = {}): RecorderOptions {
  return {
    directory,
    gatewayId: 'gw-1',
    key,
    durability: 'strict',
    batchIntervalMs: 20,
    segmentMaxBytes: 64 << 20,
    segmentMaxAgeMs: 3_600_000,
    maxPendingRecords: 10_000_000,
    ...over,
  };
}

/** Appends the records one at a time (each its own batch, so small segmentMaxBytes rotate often). */
export async function record(directory: string, key: SigningKey, inputs: RecordInput[], over: Partial<RecorderOptions> = {}): Promise<void> {
  const r = await Recorder.open(recorderOptions(directory, key, over));
  for (const input of inputs) await r.append(input);
  await r.close();
}

/**
 * Synthetic traffic for volume: `n` records of many sessions and identities (intent, outcome,
 * session start and end), appended in big groups through the batched recorder.
 */
export async function recordVolume(directory: string, key: SigningKey, n: number, over: Partial<RecorderOptions> = {}): Promise<void> {
  const r = await Recorder.open(recorderOptions(directory, key, { durability: 'batched', batchIntervalMs: 5, ...over }));
  const subjects = Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? `human:user${i}` : `agent:bot${i}`));
  const tableNames = ['customers', 'orders', 'invoices', 'products', 'payments', 'shipments'];
  let i = 0;
  let session = 0;
  while (i < n) {
    const subject = subjects[session % subjects.length]!;
    const fields = {
      session_id: `vol-${session}`,
      subject,
      issuer: 'https://idp.acme.test',
      identity_kind: subject.startsWith('human:') ? 'human' : 'agent',
      groups: subject.startsWith('human:') ? '["dba","support"]' : '["agents"]',
      claims: subject.startsWith('human:') ? '{}' : `{"model":"claude-sonnet-4","repository":"acme/repo-${session % 7}","ticket":"OPS-${session % 300}"}`,
      client_addr: `10.0.${session % 250}.${(session * 7) % 250}`,
      application_name: session % 2 ? 'psql' : 'node-postgres',
      database: session % 3 ? 'shop' : 'billing',
      upstream_role: session % 4 ? 'auditgate_reader' : 'auditgate_writer',
    };
    const ts = () => T0 + i * 1000;
    void r.append({ kind: 'session_start', ...fields, decision: 'allow', reasons: '[]', bundle_sha256: BUNDLE_A, detail: '{"tls":true,"read_only":true}', ts: ts() });
    i++;
    for (let k = 1; k <= 24 && i < n; k++) {
      const table = tableNames[(session + k) % tableNames.length]!;
      const denied = k % 11 === 0;
      void r.append({
        kind: 'statement',
        ...fields,
        statement_id: k,
        sql: `SELECT id, email, total FROM public.${table} WHERE id = ${i} AND created_at > now() - interval '${k} days'`,
        fingerprint: `fp${(session + k) % 97}`,
        protocol: k % 2 ? 'simple' : 'extended',
        statement_kind: 'select',
        command_tag: 'SELECT',
        tables: `[{"schema":"public","name":"${table}","access":"read"}]`,
        functions: '["now"]',
        params_sha256: k % 2 ? null : 'f'.repeat(64),
        decision: denied ? 'deny' : 'allow',
        reasons: denied ? '["not during the change freeze"]' : '[]',
        bundle_sha256: BUNDLE_A,
        ts: ts(),
      });
      i++;
      if (!denied && i < n) {
        void r.append({
          kind: 'statement_end',
          session_id: fields.session_id,
          subject,
          statement_id: k,
          rows: k,
          duration_us: 900 + k,
          masked: table === 'customers' ? `[{"column":"public.customers.email","method":"email","reason":"pii","count":${k}}]` : null,
          ts: ts(),
        });
        i++;
      }
    }
    if (i < n) {
      void r.append({ kind: 'session_end', session_id: fields.session_id, subject, duration_us: 5_000_000, detail: '{"reason":"client closed the connection"}', ts: ts() });
      i++;
    }
    session++;
    // Let the recorder's timer write what is queued, so the backlog stays bounded.
    while (i - r.recordsWritten > 50_000) await new Promise((res) => setTimeout(res, 5));
  }
  await r.close();
}
