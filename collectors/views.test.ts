// The record views and the auditor views over a scripted workload: what each says, with the
// entitlement and identity tables empty, and once a catalog snapshot and a directory are in.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshKey } from '../proxy/recorder/test-support.js';
import { openEvidenceDb, type EvidenceDb } from './evidence-db.js';
import { collectSegments } from './land-segments.js';
import { BUNDLE_A, BUNDLE_B, record, scriptedWorkload } from './segments.fixtures.js';

let dir: string;
let db: EvidenceDb;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-views-'));
  const key = freshKey();
  await record(join(dir, 'segments'), key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
  db = await openEvidenceDb(join(dir, 'evidence.duckdb'));
  expect((await collectSegments({ directory: join(dir, 'segments'), db, publicKey: key.publicKey })).ok).toBe(true);
});
afterAll(async () => {
  db.close();
  await rm(dir, { recursive: true, force: true });
});

async function all(sql: string): Promise<Record<string, unknown>[]> {
  const r = await db.connection.runAndReadAll(sql);
  const norm = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : Array.isArray(v) ? v.map(norm) : v);
  return r.getRowObjectsJS().map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, norm(v)])));
}

describe('record views', () => {
  it('sessions: one row per session start, refused connections included', async () => {
    expect(await all(`SELECT session_id, subject, identity_kind, groups, agent_model, database, upstream_role, connect_decision, connect_sqlstate, read_only, end_reason, statements, statements_denied, statements_held FROM sessions ORDER BY start_seq`)).toEqual([
      { session_id: 'sess-agent-1', subject: 'agent:claude-code', identity_kind: 'agent', groups: ['agents'], agent_model: 'claude-sonnet-4', database: 'shop', upstream_role: 'auditgate_reader', connect_decision: 'allow', connect_sqlstate: null, read_only: true, end_reason: 'client closed the connection', statements: 8, statements_denied: 1, statements_held: 1 },
      { session_id: 'sess-alice-1', subject: 'human:alice', identity_kind: 'human', groups: ['dba'], agent_model: null, database: 'shop', upstream_role: 'auditgate_writer', connect_decision: 'allow', connect_sqlstate: null, read_only: false, end_reason: 'client closed the connection', statements: 4, statements_denied: 1, statements_held: 0 },
      { session_id: null, subject: 'agent:rogue', identity_kind: 'agent', groups: [], agent_model: null, database: null, upstream_role: null, connect_decision: 'deny', connect_sqlstate: '28000', read_only: null, end_reason: null, statements: 0, statements_denied: 0, statements_held: 0 },
    ]);
  });

  it('statements: intent joined with outcome; executed yes, no or unknown', async () => {
    expect(await all(`SELECT statement_id, decision, executed, "rows", error_sqlstate FROM statements WHERE session_id = 'sess-agent-1' ORDER BY statement_id`)).toEqual([
      { statement_id: 1, decision: 'allow', executed: 'yes', rows: 3, error_sqlstate: null },
      { statement_id: 2, decision: 'deny', executed: 'no', rows: null, error_sqlstate: null },
      { statement_id: 3, decision: 'approval_required', executed: 'no', rows: null, error_sqlstate: null },
      { statement_id: 4, decision: 'approved', executed: 'yes', rows: 1, error_sqlstate: null },
      { statement_id: 5, decision: 'allow', executed: 'yes', rows: 1, error_sqlstate: null },
      { statement_id: 6, decision: 'allow', executed: 'yes', rows: 1, error_sqlstate: null },
      { statement_id: 7, decision: 'allow', executed: 'yes', rows: null, error_sqlstate: '57014' },
      { statement_id: 8, decision: 'allow', executed: 'unknown', rows: null, error_sqlstate: null },
    ]);
  });

  it('statement_tables, masking_events (both recorded shapes), detector_events, approvals, policy_bundles', async () => {
    expect(await all(`SELECT statement_id, table_schema, table_name, access FROM statement_tables WHERE session_id = 'sess-agent-1' ORDER BY statement_id`)).toEqual([
      { statement_id: 1, table_schema: 'public', table_name: 'customers', access: 'read' },
      { statement_id: 2, table_schema: null, table_name: 'orders', access: 'write' },
      { statement_id: 3, table_schema: null, table_name: 'customers', access: 'write' },
      { statement_id: 4, table_schema: null, table_name: 'customers', access: 'write' },
      { statement_id: 5, table_schema: null, table_name: 'customers', access: 'read' },
      { statement_id: 6, table_schema: 'public', table_name: 'customers', access: 'read' },
      { statement_id: 8, table_schema: null, table_name: 'orders', access: 'read' },
    ]);
    expect(await all(`SELECT statement_id, column_ref, table_schema, table_name, column_name, values_masked, method FROM masking_events ORDER BY statement_id`)).toEqual([
      { statement_id: 1, column_ref: 'public.customers.email', table_schema: 'public', table_name: 'customers', column_name: 'email', values_masked: 3, method: 'email' },
      { statement_id: 6, column_ref: 'public.customers.ssn', table_schema: 'public', table_name: 'customers', column_name: 'ssn', values_masked: 1, method: null },
    ]);
    expect(await all(`SELECT statement_id, detector, hits FROM detector_events`)).toEqual([{ statement_id: 1, detector: 'email', hits: 1 }]);
    expect(await all(`SELECT approval_id, event, actor, approvers, reason FROM approvals ORDER BY seq`)).toEqual([
      { approval_id: 'appr-1', event: 'requested', actor: null, approvers: ['dba'], reason: 'production write' },
      { approval_id: 'appr-1', event: 'approved', actor: 'human:alice', approvers: ['dba'], reason: null },
      { approval_id: 'appr-1', event: 'released', actor: null, approvers: null, reason: null },
    ]);
    expect(await all(`SELECT bundle_sha256, source, revision, manifest_known, loads, statements_decided, sessions_decided, gateways FROM policy_bundles ORDER BY first_seen`)).toEqual([
      { bundle_sha256: BUNDLE_A, source: 'policies/dist/auditgate.tar.gz', revision: 'rev-1', manifest_known: true, loads: 1, statements_decided: 11, sessions_decided: 2, gateways: ['gw-1'] },
      { bundle_sha256: BUNDLE_B, source: 'policies/dist/auditgate.tar.gz', revision: 'rev-2', manifest_known: true, loads: 1, statements_decided: 1, sessions_decided: 1, gateways: ['gw-1'] },
    ]);
  });
});

describe('auditor views', () => {
  it('approval_trail: who asked, who approved, what ran', async () => {
    expect(await all(`SELECT approval_id, session_id, statement_id, subject, approvers, request_reason, outcome, decided_by, decision_seconds, self_approved, executed, "rows" FROM approval_trail`)).toEqual([
      { approval_id: 'appr-1', session_id: 'sess-agent-1', statement_id: 3, subject: 'agent:claude-code', approvers: ['dba'], request_reason: 'production write', outcome: 'approved', decided_by: 'human:alice', decision_seconds: 1, self_approved: false, executed: 'yes', rows: 1 },
    ]);
  });

  it('masking_attestation and unmasked_sensitive_statements', async () => {
    expect(await all(`SELECT column_ref, subject, statements_masked, values_masked, statements_touching_table, statements_touching_table_unmasked FROM masking_attestation ORDER BY column_ref, subject`)).toEqual([
      { column_ref: 'public.customers.email', subject: 'agent:claude-code', statements_masked: 1, values_masked: 3, statements_touching_table: 3, statements_touching_table_unmasked: 1 },
      { column_ref: 'public.customers.email', subject: 'human:alice', statements_masked: 0, values_masked: 0, statements_touching_table: 1, statements_touching_table_unmasked: 1 },
      { column_ref: 'public.customers.ssn', subject: 'agent:claude-code', statements_masked: 1, values_masked: 1, statements_touching_table: 3, statements_touching_table_unmasked: 1 },
      { column_ref: 'public.customers.ssn', subject: 'human:alice', statements_masked: 0, values_masked: 0, statements_touching_table: 1, statements_touching_table_unmasked: 1 },
    ]);
    expect(await all(`SELECT subject, statement_id, sql FROM unmasked_sensitive_statements ORDER BY ts`)).toEqual([
      { subject: 'agent:claude-code', statement_id: 5, sql: 'SELECT count(*) FROM customers' },
      { subject: 'human:alice', statement_id: 4, sql: 'SELECT email FROM customers' },
    ]);
  });

  it('privileged_actions and integrity', async () => {
    expect(await all(`SELECT subject, statement_id, categories, decision, executed FROM privileged_actions ORDER BY ts`)).toEqual([
      { subject: 'human:alice', statement_id: 1, categories: ['ddl'], decision: 'allow', executed: 'yes' },
      { subject: 'human:alice', statement_id: 2, categories: ['admin_function'], decision: 'allow', executed: 'yes' },
      { subject: 'human:alice', statement_id: 3, categories: ['privilege'], decision: 'deny', executed: 'no' },
    ]);
    expect(await all(`SELECT gateway_id, records, records_in_table, gaps, verification_errors, status FROM integrity`)).toEqual([{ gateway_id: 'gw-1', records: 30, records_in_table: 30, gaps: 0, verification_errors: 0, status: 'ok' }]);
  });

  it('access_matrix: standing grants unknown without a snapshot, then from the newest snapshot, with the directory', async () => {
    const matrix = () => all(`SELECT subject, display_name, identity_owner, upstream_role, table_name, action, allowed, denied, held_for_approval, approved, standing_grant, granted_by FROM access_matrix ORDER BY subject, table_name, action, table_schema NULLS FIRST`);
    expect((await matrix()).every((r) => r.standing_grant === null && r.display_name === null)).toBe(true);

    const c = db.connection;
    const snapshot = async (id: string, at: string, writerSuperuser: boolean) => {
      await c.run(`INSERT INTO entitlement_snapshots (snapshot_id, taken_at, source, all_databases, databases, skipped_databases, roles, memberships, privileges, default_privileges, rls_policies)
        VALUES ('${id}', TIMESTAMPTZ '${at}', 'db:5432/shop', false, ['shop'], [], 3, 1, 3, 0, 0)`);
      for (const [name, superuser] of [['auditgate_reader', false], ['auditgate_writer', writerSuperuser], ['app_read', false]] as const) {
        await c.run(`INSERT INTO ent_roles (snapshot_id, snapshot_at, name, oid, superuser, inherit) VALUES ('${id}', TIMESTAMPTZ '${at}', '${name}', 1, ${superuser}, true)`);
      }
      await c.run(`INSERT INTO ent_memberships (snapshot_id, snapshot_at, role, member) VALUES ('${id}', TIMESTAMPTZ '${at}', 'app_read', 'auditgate_reader')`);
      for (const [grantee, schema, object, privilege, owner] of [
        ['app_read', 'public', 'customers', 'SELECT', 'postgres'],
        ['app_read', 'public', 'orders', 'SELECT', 'postgres'],
        ['auditgate_writer', 'public', 'audit_notes', 'SELECT', 'auditgate_writer'],
      ]) {
        await c.run(`INSERT INTO ent_privileges (snapshot_id, snapshot_at, grantee, object_type, database, schema_name, object_name, privilege, grantable, object_owner, builtin_default)
          VALUES ('${id}', TIMESTAMPTZ '${at}', '${grantee}', 'table', 'shop', '${schema}', '${object}', '${privilege}', false, '${owner}', false)`);
      }
    };
    await snapshot('ent-1', '2025-03-01 00:00:00+00', false);
    await c.run(`INSERT INTO directory_imports (import_id, imported_at, source_file, format, sha256, row_count) VALUES ('dir-1', now(), 'okta.csv', 'csv', 'x', 1)`);
    await c.run(`INSERT INTO directory_identities (import_id, line, subject, display_name, kind, owner, groups, status) VALUES ('dir-1', 2, 'agent:claude-code', 'Claude Code (shop)', 'agent', 'human:alice', ['agents'], 'active')`);

    expect(await matrix()).toEqual([
      { subject: 'agent:claude-code', display_name: 'Claude Code (shop)', identity_owner: 'human:alice', upstream_role: 'auditgate_reader', table_name: 'customers', action: 'read', allowed: 1, denied: 0, held_for_approval: 0, approved: 0, standing_grant: true, granted_by: ['SELECT via app_read'] },
      { subject: 'agent:claude-code', display_name: 'Claude Code (shop)', identity_owner: 'human:alice', upstream_role: 'auditgate_reader', table_name: 'customers', action: 'read', allowed: 2, denied: 0, held_for_approval: 0, approved: 0, standing_grant: true, granted_by: ['SELECT via app_read'] },
      { subject: 'agent:claude-code', display_name: 'Claude Code (shop)', identity_owner: 'human:alice', upstream_role: 'auditgate_reader', table_name: 'customers', action: 'write', allowed: 1, denied: 0, held_for_approval: 1, approved: 1, standing_grant: false, granted_by: null },
      { subject: 'agent:claude-code', display_name: 'Claude Code (shop)', identity_owner: 'human:alice', upstream_role: 'auditgate_reader', table_name: 'orders', action: 'read', allowed: 1, denied: 0, held_for_approval: 0, approved: 0, standing_grant: true, granted_by: ['SELECT via app_read'] },
      { subject: 'agent:claude-code', display_name: 'Claude Code (shop)', identity_owner: 'human:alice', upstream_role: 'auditgate_reader', table_name: 'orders', action: 'write', allowed: 0, denied: 1, held_for_approval: 0, approved: 0, standing_grant: false, granted_by: null },
      { subject: 'human:alice', display_name: null, identity_owner: null, upstream_role: 'auditgate_writer', table_name: 'audit_notes', action: 'ddl', allowed: 1, denied: 0, held_for_approval: 0, approved: 0, standing_grant: true, granted_by: ['OWNER'] },
      { subject: 'human:alice', display_name: null, identity_owner: null, upstream_role: 'auditgate_writer', table_name: 'customers', action: 'read', allowed: 1, denied: 0, held_for_approval: 0, approved: 0, standing_grant: false, granted_by: null },
      { subject: 'human:alice', display_name: null, identity_owner: null, upstream_role: 'auditgate_writer', table_name: 'orders', action: 'ddl', allowed: 0, denied: 1, held_for_approval: 0, approved: 0, standing_grant: false, granted_by: null },
    ]);

    // A newer snapshot wins: the writer role became a superuser.
    await snapshot('ent-2', '2025-03-02 00:00:00+00', true);
    const alice = (await matrix()).filter((r) => r.subject === 'human:alice');
    expect(alice.map((r) => [r.table_name, r.standing_grant, r.granted_by])).toEqual([
      ['audit_notes', true, ['SUPERUSER']],
      ['customers', true, ['SUPERUSER']],
      ['orders', true, ['SUPERUSER']],
    ]);
    expect((await all(`SELECT DISTINCT entitlement_snapshot FROM access_matrix`)).map((r) => r.entitlement_snapshot)).toEqual(['ent-2']);
    const privileged = await all(`SELECT statement_id, categories, role_is_superuser FROM privileged_actions WHERE subject = 'human:alice' ORDER BY statement_id`);
    expect(privileged).toEqual([
      { statement_id: 1, categories: ['ddl', 'superuser_role'], role_is_superuser: true },
      { statement_id: 2, categories: ['admin_function', 'superuser_role'], role_is_superuser: true },
      { statement_id: 3, categories: ['privilege', 'superuser_role'], role_is_superuser: true },
      { statement_id: 4, categories: ['superuser_role'], role_is_superuser: true },
    ]);
  });
});
