// The scripted agent: one node-postgres session through the gateway, doing what a coding agent
// cleaning up a shop database might do, good and bad. Each step reports what the agent tried,
// what came back (exactly as the agent received it) and, for reads, what is really stored,
// read from the embedded database directly, so the narrative can show what masking changed.
// The approver is a second identity (a human on call) who approves the held DELETE through the
// gateway's admin API, as the approvals page or `auditgate approvals approve` would.
import pg from 'pg';
import { AdminClient } from '../proxy/admin/client.js';
import type { RequestView } from '../proxy/admin/server.js';
import { parseCsv } from '../collectors/identities.js';
import { copyOut } from './copy-out.js';

export interface DemoIdentity {
  subject: string;
  kind: 'agent' | 'human';
  groups: string[];
  claims: Record<string, string>;
}

export const DEMO_AGENT: DemoIdentity = {
  subject: 'agent:claude@acme.test',
  kind: 'agent',
  groups: ['agents', 'agent-writers'],
  claims: { model: 'claude-sonnet-4', repository: 'acme/shop', ticket: 'OPS-1234' },
};

export const DEMO_APPROVER: DemoIdentity = {
  subject: 'dana.dba@acme.test',
  kind: 'human',
  groups: ['dba-oncall'],
  claims: {},
};

/** One value of a result: what the database holds and what the agent received. */
export interface MaskedValue {
  column: string;
  stored: string | null;
  seen: string | null;
}

export interface StepReport {
  n: number;
  /** What the agent tried, in words. */
  intent: string;
  sql: string;
  params?: unknown[];
  /** The table a read comes from (its classification is looked up for the narrative). */
  source?: string;
  outcome: 'allowed' | 'denied' | 'approved';
  /** Result rows as the agent got them (first row: column names). */
  rows?: string[][];
  /** COPY output as the agent got it. */
  copyText?: string;
  /** Values that differ between what is stored and what the agent saw. */
  masked: MaskedValue[];
  /** Columns in which at least one value was masked. */
  maskedColumns: string[];
  /** For refusals: the gateway's message (its policy reasons) and SQLSTATE. */
  refusal?: { sqlstate: string; message: string };
  approval?: { id: string; reason: string; approverGroups: string[]; approver: DemoIdentity; comment: string; heldMs: number };
  /** Rows returned or changed. */
  rowCount: number | null;
}

export interface SessionOptions {
  gateway: { host: string; port: number };
  database: string;
  adminUrl: string;
  token: (who: DemoIdentity) => Promise<string>;
  /** Runs SQL on the embedded database itself (the truth the agent does not see). */
  stored: (sql: string, params?: unknown[]) => Promise<{ fields: string[]; rows: unknown[][] }>;
  onStep: (step: StepReport) => void;
  /** Called when a statement is held, before the approver acts (its step is reported once it ran). */
  onHeld?: (step: Pick<StepReport, 'n' | 'intent' | 'sql'>, request: RequestView) => void;
}

export interface SessionResult {
  steps: StepReport[];
  approvalId: string;
  sessionId: string;
}

const text = (v: unknown): string | null => (v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : String(v));

function refusalOf(err: unknown): { sqlstate: string; message: string } {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code !== 'string' || !/^[0-9A-Z]{5}$/.test(e.code)) throw err; // not the server's answer: a real failure
  return { sqlstate: e.code, message: (e.message ?? '').replace(/^auditgate: denied: /, '') };
}

/** Compares a result with the same query run on the database itself, value by value. */
function diff(fields: string[], seen: unknown[][], stored: unknown[][]): { masked: MaskedValue[]; columns: string[] } {
  const masked: MaskedValue[] = [];
  const columns = new Set<string>();
  seen.forEach((row, r) =>
    row.forEach((v, c) => {
      const a = text(stored[r]?.[c]);
      const b = text(v);
      if (a !== b) {
        masked.push({ column: fields[c]!, stored: a, seen: b });
        columns.add(fields[c]!);
      }
    }),
  );
  return { masked, columns: fields.filter((f) => columns.has(f)) };
}

function csvDiff(seenText: string, stored: unknown[][]): { masked: MaskedValue[]; columns: string[] } {
  const [header = [], ...rows] = parseCsv(seenText).map((r) => r.fields);
  return diff(header, rows, stored);
}

async function waitForPending(admin: AdminClient, sql: string): Promise<RequestView> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { requests } = await admin.list({ status: ['pending'], type: 'statement' });
    const found = requests.find((r) => r.type === 'statement' && r.sql === sql);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the gateway did not create an approval request for ${JSON.stringify(sql)} within 20 s`);
}

export async function runAgentSession(opts: SessionOptions): Promise<SessionResult> {
  const steps: StepReport[] = [];
  const report = (s: StepReport): void => {
    steps.push(s);
    opts.onStep(s);
  };
  const client = new pg.Client({
    host: opts.gateway.host,
    port: opts.gateway.port,
    user: 'agent', // not the identity: the token is (docs/identity.md)
    database: opts.database,
    password: await opts.token(DEMO_AGENT),
    application_name: 'auditgate-demo-agent',
  });
  // A dropped connection must fail the step that is waiting, not the process.
  client.on('error', () => {});
  await client.connect();
  let approvalId = '';
  let sessionId = '';
  try {
    // 1. An ordinary read of a table with nothing sensitive in it.
    {
      const sql = 'SELECT status, count(*) AS orders, sum(total) AS total FROM orders GROUP BY status ORDER BY status';
      const r = await client.query({ text: sql, rowMode: 'array' });
      const truth = await opts.stored(sql);
      const d = diff(r.fields.map((f) => f.name), r.rows as unknown[][], truth.rows);
      report({
        n: 1,
        intent: 'looks at the orders by status',
        sql,
        source: 'orders',
        outcome: 'allowed',
        rows: [r.fields.map((f) => f.name), ...(r.rows as unknown[][]).map((row) => row.map((v) => text(v) ?? 'NULL'))],
        masked: d.masked,
        maskedColumns: d.columns,
        rowCount: r.rowCount,
      });
    }

    // 2. A read of customers (bound parameter: the extended protocol): classified columns masked.
    {
      const sql = 'SELECT id, name, email, phone, ssn, card_number FROM customers WHERE id <= $1 ORDER BY id';
      const params = [3];
      const r = await client.query({ text: sql, values: params, rowMode: 'array' });
      const truth = await opts.stored(sql, params);
      const d = diff(r.fields.map((f) => f.name), r.rows as unknown[][], truth.rows);
      report({
        n: 2,
        intent: 'reads three customers',
        sql,
        source: 'customers',
        params,
        outcome: 'allowed',
        rows: [r.fields.map((f) => f.name), ...(r.rows as unknown[][]).map((row) => row.map((v) => text(v) ?? 'NULL'))],
        masked: d.masked,
        maskedColumns: d.columns,
        rowCount: r.rowCount,
      });
    }

    // 3. A privilege change: refused for everyone, whatever the role could do.
    {
      const sql = 'GRANT SELECT ON api_keys TO PUBLIC';
      const refusal = await client.query(sql).then(
        () => null,
        (err: unknown) => refusalOf(err),
      );
      report({ n: 3, intent: 'tries to make the API keys readable by every role', sql, outcome: refusal ? 'denied' : 'allowed', refusal: refusal ?? undefined, masked: [], maskedColumns: [], rowCount: null });
    }

    // 4. A DELETE without WHERE: refused before it reaches the database.
    {
      const sql = 'DELETE FROM orders';
      const refusal = await client.query(sql).then(
        () => null,
        (err: unknown) => refusalOf(err),
      );
      report({ n: 4, intent: 'tries to delete every order', sql, outcome: refusal ? 'denied' : 'allowed', refusal: refusal ?? undefined, masked: [], maskedColumns: [], rowCount: null });
    }

    // 5. A DELETE on a production table: held until a human on call approves it.
    {
      const sql = "DELETE FROM orders WHERE status = 'cancelled'";
      const intent = 'deletes the cancelled orders (a production table)';
      const started = Date.now();
      const running = client.query(sql).then(
        (r) => ({ ok: true as const, rowCount: r.rowCount }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      const admin = new AdminClient({ url: opts.adminUrl, token: await opts.token(DEMO_APPROVER), timeoutMs: 10_000 });
      const held = await waitForPending(admin, sql);
      opts.onHeld?.({ n: 5, intent, sql }, held);
      const comment = `${DEMO_AGENT.claims.ticket}: the cancelled orders were checked, none is billed`;
      await admin.decide(held.id, 'approve', comment);
      const done = await running;
      if (!done.ok) throw new Error(`the approved DELETE failed: ${(done.err as Error).message}`);
      approvalId = held.id;
      sessionId = held.type === 'statement' ? held.session_id : '';
      report({
        n: 5,
        intent,
        sql,
        outcome: 'approved',
        approval: {
          id: held.id,
          reason: held.reason,
          approverGroups: held.approver_groups,
          approver: DEMO_APPROVER,
          comment,
          heldMs: Date.now() - started,
        },
        masked: [],
        maskedColumns: [],
        rowCount: done.rowCount,
      });
    }

    // 6. COPY out of a table holding secrets: the output is masked like query results.
    {
      const sql = 'COPY api_keys (id, customer_id, label, secret) TO STDOUT WITH (FORMAT csv, HEADER)';
      const r = await copyOut(client, sql);
      const truth = await opts.stored('SELECT id, customer_id, label, secret FROM api_keys ORDER BY id');
      const d = csvDiff(r.text, truth.rows);
      report({ n: 6, intent: 'exports the API keys with COPY', sql, source: 'api_keys', outcome: 'allowed', copyText: r.text, masked: d.masked, maskedColumns: d.columns, rowCount: r.rowCount });
    }
  } finally {
    await client.end().catch(() => {});
  }
  return { steps, approvalId, sessionId };
}
