// The cast and the script of the synthetic evidence (synthetic-evidence.ts): who connects
// (agents and humans, their groups, upstream roles and provenance claims), and what they run
// (statement templates with the facts the gateway's analyzer would record, who the default
// policy lets run them, what the masker would mask). Small tables, built here in TypeScript
// and handed to DuckDB as VALUES; the records themselves are generated in SQL.

/** Which identities a template's policy rule lets through; the others are denied with its reason. */
export type Rule = 'any' | 'writer' | 'dba' | 'human';

export interface Template {
  name: string;
  /** Per mille of ordinary statements (approval templates: 0, they are only used for held statements). */
  weight: number;
  /** `$P` is replaced by a per-statement number. */
  sql: string;
  statementKind: string;
  commandTag: string;
  tables: { schema: string | null; name: string; access: 'read' | 'write' | 'ddl' }[];
  functions: string[];
  rule: Rule;
  denyReason: string | null;
  rows: [number, number];
  /** Longest duration in µs (capped by the session's pace). */
  maxDurationUs: number;
  /** Masked columns; each masks one value per row returned. */
  masked: { column: string; method: string; reason: string }[];
  /** A content detector that fires once per row returned. */
  detector: string | null;
  /** An error some executions end with (rows NULL), and how often. */
  error: { sqlstate: string; rate: number } | null;
  /** What privileged_actions counts it as, for the generator's own tally (ddl, privilege, superuser command, admin function). */
  privileged: boolean;
}

const WRITERS = 'writes need the agent-writers group';
const DBAS = 'DDL, privilege changes and admin functions need the dba group';
const t = (schema: string | null, name: string, access: 'read' | 'write' | 'ddl' = 'read') => ({ schema, name, access });
const base = { functions: [], rule: 'any' as Rule, denyReason: null, masked: [], detector: null, error: null, privileged: false, maxDurationUs: 400_000 };

export const TEMPLATES: Template[] = [
  { ...base, name: 'customer_lookup', weight: 170, sql: 'SELECT id, name, email FROM public.customers WHERE region_id = $P LIMIT 50', statementKind: 'select', commandTag: 'SELECT', tables: [t('public', 'customers')], rows: [1, 50], masked: [{ column: 'public.customers.email', method: 'email', reason: 'pii: email' }] },
  { ...base, name: 'orders_by_customer', weight: 190, sql: 'SELECT id, status, total, created_at FROM public.orders WHERE customer_id = $P ORDER BY created_at DESC LIMIT 20', statementKind: 'select', commandTag: 'SELECT', tables: [t('public', 'orders')], rows: [0, 20] },
  { ...base, name: 'order_items', weight: 100, sql: 'SELECT o.id, p.name, i.quantity FROM orders o JOIN order_items i ON i.order_id = o.id JOIN products p ON p.id = i.product_id WHERE o.id = $P', statementKind: 'select', commandTag: 'SELECT', tables: [t(null, 'orders'), t(null, 'order_items'), t(null, 'products')], rows: [1, 12] },
  { ...base, name: 'products', weight: 120, sql: 'SELECT id, name, price FROM public.products WHERE category_id = $P LIMIT 100', statementKind: 'select', commandTag: 'SELECT', tables: [t('public', 'products')], rows: [1, 100] },
  { ...base, name: 'customer_count', weight: 60, sql: "SELECT count(*) FROM public.customers WHERE created_at > now() - interval '$P minutes'", statementKind: 'select', commandTag: 'SELECT', tables: [t('public', 'customers')], functions: ['now', 'count'], rows: [1, 1] },
  { ...base, name: 'payments', weight: 50, sql: 'SELECT id, order_id, amount, card_number FROM public.payments WHERE order_id = $P', statementKind: 'select', commandTag: 'SELECT', tables: [t('public', 'payments')], rows: [0, 3], masked: [{ column: 'public.payments.card_number', method: 'partial', reason: 'pci: card number' }] },
  { ...base, name: 'customer_contact', weight: 40, sql: 'SELECT name, phone, ssn FROM public.customers WHERE id = $P', statementKind: 'select', commandTag: 'SELECT', tables: [t('public', 'customers')], rows: [0, 1], masked: [{ column: 'public.customers.phone', method: 'partial', reason: 'pii: phone' }, { column: 'public.customers.ssn', method: 'hash', reason: 'pii: national id' }] },
  { ...base, name: 'customer_export', weight: 15, sql: 'SELECT * FROM public.customers', statementKind: 'select', commandTag: 'SELECT', tables: [t('public', 'customers')], rule: 'human', denyReason: 'agents may not read a whole table with sensitive columns', rows: [800, 5000], maxDurationUs: 2_000_000, masked: [{ column: 'public.customers.email', method: 'email', reason: 'pii: email' }, { column: 'public.customers.phone', method: 'partial', reason: 'pii: phone' }, { column: 'public.customers.ssn', method: 'hash', reason: 'pii: national id' }] },
  { ...base, name: 'customer_copy', weight: 5, sql: 'COPY public.customers TO STDOUT WITH (FORMAT csv)', statementKind: 'copy_to', commandTag: 'COPY', tables: [t('public', 'customers')], rule: 'human', denyReason: 'agents may not export a table with sensitive columns', rows: [800, 5000], maxDurationUs: 3_000_000, masked: [{ column: 'public.customers.email', method: 'email', reason: 'pii: email' }, { column: 'public.customers.phone', method: 'partial', reason: 'pii: phone' }, { column: 'public.customers.ssn', method: 'hash', reason: 'pii: national id' }] },
  { ...base, name: 'customer_label', weight: 15, sql: "SELECT id, concat(name, ' <', email, '>') FROM public.customers WHERE id = $P", statementKind: 'select', commandTag: 'SELECT', tables: [t('public', 'customers')], functions: ['concat'], rows: [0, 1], detector: 'email' },
  { ...base, name: 'invoices', weight: 60, sql: 'SELECT id, amount_due, due_date FROM billing.invoices WHERE account_id = $P', statementKind: 'select', commandTag: 'SELECT', tables: [t('billing', 'invoices')], rows: [0, 12] },
  { ...base, name: 'table_size', weight: 30, sql: "SELECT pg_size_pretty(pg_total_relation_size('public.orders'))", statementKind: 'select', commandTag: 'SELECT', tables: [], functions: ['pg_size_pretty', 'pg_total_relation_size'], rows: [1, 1] },
  { ...base, name: 'activity', weight: 20, sql: 'SELECT pid, state, query FROM pg_catalog.pg_stat_activity WHERE datname = current_database()', statementKind: 'select', commandTag: 'SELECT', tables: [t('pg_catalog', 'pg_stat_activity')], functions: ['current_database'], rows: [3, 40] },
  { ...base, name: 'ship_order', weight: 50, sql: "UPDATE public.orders SET status = 'shipped' WHERE id = $P", statementKind: 'update', commandTag: 'UPDATE', tables: [t('public', 'orders', 'write')], rule: 'writer', denyReason: WRITERS, rows: [0, 1] },
  { ...base, name: 'add_shipment', weight: 40, sql: "INSERT INTO public.shipments (order_id, carrier) VALUES ($P, 'ups')", statementKind: 'insert', commandTag: 'INSERT', tables: [t('public', 'shipments', 'write')], rule: 'writer', denyReason: WRITERS, rows: [1, 1], error: { sqlstate: '23505', rate: 0.02 } },
  { ...base, name: 'purge_carts', weight: 15, sql: "DELETE FROM public.carts WHERE updated_at < now() - interval '$P days'", statementKind: 'delete', commandTag: 'DELETE', tables: [t('public', 'carts', 'write')], functions: ['now'], rule: 'writer', denyReason: WRITERS, rows: [0, 400], maxDurationUs: 1_500_000 },
  { ...base, name: 'grant_select', weight: 1, sql: 'GRANT SELECT ON public.orders TO analyst', statementKind: 'privilege', commandTag: 'GRANT', tables: [t('public', 'orders', 'ddl')], rule: 'dba', denyReason: DBAS, rows: [0, 0], privileged: true },
  { ...base, name: 'create_extension', weight: 1, sql: 'CREATE EXTENSION IF NOT EXISTS pg_trgm', statementKind: 'ddl', commandTag: 'CREATE EXTENSION', tables: [], rule: 'dba', denyReason: DBAS, rows: [0, 0], privileged: true },
  { ...base, name: 'create_function', weight: 1, sql: 'CREATE OR REPLACE FUNCTION public.order_total(o bigint) RETURNS numeric LANGUAGE sql AS $$ SELECT sum(quantity * price) FROM order_items WHERE order_id = o $$', statementKind: 'ddl', commandTag: 'CREATE FUNCTION', tables: [], rule: 'dba', denyReason: DBAS, rows: [0, 0], privileged: true },
  { ...base, name: 'add_column', weight: 2, sql: 'ALTER TABLE public.orders ADD COLUMN IF NOT EXISTS note_$P text', statementKind: 'ddl', commandTag: 'ALTER TABLE', tables: [t('public', 'orders', 'ddl')], rule: 'dba', denyReason: DBAS, rows: [0, 0], privileged: true },
  { ...base, name: 'terminate', weight: 1, sql: 'SELECT pg_terminate_backend($P)', statementKind: 'select', commandTag: 'SELECT', tables: [], functions: ['pg_catalog.pg_terminate_backend'], rule: 'dba', denyReason: DBAS, rows: [1, 1], privileged: true },
  { ...base, name: 'slow_report', weight: 25, sql: "SELECT date_trunc('day', created_at), sum(total) FROM public.orders WHERE created_at > now() - interval '$P days' GROUP BY 1", statementKind: 'select', commandTag: 'SELECT', tables: [t('public', 'orders')], functions: ['date_trunc', 'sum', 'now'], rows: [1, 90], maxDurationUs: 3_000_000, error: { sqlstate: '57014', rate: 0.05 } },
  // Held for approval (only as the held statement and its release).
  { ...base, name: 'approval_delete', weight: 0, sql: 'DELETE FROM public.orders WHERE id = $P', statementKind: 'delete', commandTag: 'DELETE', tables: [t('public', 'orders', 'write')], rows: [1, 1] },
  { ...base, name: 'approval_update', weight: 0, sql: 'UPDATE public.customers SET phone = NULL WHERE id = $P', statementKind: 'update', commandTag: 'UPDATE', tables: [t('public', 'customers', 'write')], rows: [1, 1] },
];

/** Index of the first approval template; the second follows it. */
export const APPROVAL_TEMPLATE = TEMPLATES.findIndex((x) => x.name === 'approval_delete');
export const APPROVAL_REASON = 'production write';
export const APPROVER_GROUP = 'dba';

export type UpstreamRole = 'auditgate_reader' | 'auditgate_writer' | 'auditgate_admin';

export interface SyntheticIdentity {
  index: number;
  subject: string;
  displayName: string;
  email: string;
  issuer: string;
  kind: 'agent' | 'human';
  groups: string[];
  role: UpstreamRole;
  /** Claims recorded with every session (agents add a per-session ticket). */
  model: string | null;
  repository: string | null;
  applications: string[];
  /** The human accountable for an agent (directory owner). */
  owner: string | null;
}

const HUMANS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj', 'olivia', 'peggy', 'rupert', 'sybil', 'trent', 'victor', 'walter', 'yvonne'];
const HUMAN_GROUPS = ['dba', 'engineering', 'support', 'dba'];
const AGENTS = ['claude-code', 'cursor', 'copilot', 'devin', 'aider', 'codex'];
const MODELS = ['claude-sonnet-4', 'claude-opus-4', 'gpt-5', 'gemini-2.5-pro'];
const REPOSITORIES = ['acme/shop', 'acme/billing-service', 'acme/infra', 'acme/data-pipeline', 'acme/support-tools'];

/** `n` identities: every fourth a human (dba, engineering, support, dba, ...), the rest agents (every third of them a writer). */
export function syntheticIdentities(n: number): SyntheticIdentity[] {
  const out: SyntheticIdentity[] = [];
  const humans: string[] = [];
  for (let i = 3; i < n; i += 4) {
    const h = (i - 3) / 4;
    humans.push(`human:${HUMANS[h % HUMANS.length]}${h >= HUMANS.length ? Math.floor(h / HUMANS.length) + 1 : ''}`);
  }
  for (let i = 0; i < n; i++) {
    if (i % 4 === 3) {
      const h = (i - 3) / 4;
      const group = HUMAN_GROUPS[h % HUMAN_GROUPS.length]!;
      const subject = humans[h]!;
      const name = subject.slice('human:'.length);
      out.push({
        index: i,
        subject,
        displayName: name[0]!.toUpperCase() + name.slice(1),
        email: `${name}@acme.test`,
        issuer: 'https://idp.acme.test',
        kind: 'human',
        groups: [group],
        role: group === 'dba' ? 'auditgate_admin' : group === 'engineering' ? 'auditgate_writer' : 'auditgate_reader',
        model: null,
        repository: null,
        applications: h % 2 ? ['DBeaver'] : ['psql'],
        owner: null,
      });
    } else {
      const a = i - Math.floor(i / 4);
      const writer = a % 3 === 2;
      const name = `${AGENTS[a % AGENTS.length]}-${i}`;
      out.push({
        index: i,
        subject: `agent:${name}`,
        displayName: `${name} (${REPOSITORIES[a % REPOSITORIES.length]})`,
        email: `${name}@agents.acme.test`,
        issuer: 'https://agents.acme.test',
        kind: 'agent',
        groups: writer ? ['agents', 'agent-writers'] : ['agents'],
        role: writer ? 'auditgate_writer' : 'auditgate_reader',
        model: MODELS[a % MODELS.length]!,
        repository: REPOSITORIES[a % REPOSITORIES.length]!,
        applications: a % 3 === 0 ? ['claude-code', 'psql'] : a % 3 === 1 ? ['node-postgres'] : ['psycopg'],
        owner: humans.length ? humans[a % humans.length]! : null,
      });
    }
  }
  return out;
}

/** Who approves held statements: the dba humans, padded with on-call approvers so a requester never approves their own. */
export function approversOf(identities: SyntheticIdentity[]): string[] {
  const dbas = identities.filter((i) => i.groups.includes(APPROVER_GROUP) && i.kind === 'human').map((i) => i.subject);
  for (let k = 1; dbas.length < 3; k++) dbas.push(`human:oncall-dba-${k}`);
  return dbas;
}

/** Applications that speak the extended protocol (and so record a parameters hash). */
export const EXTENDED_PROTOCOL_APPS = new Set(['node-postgres', 'psycopg', 'DBeaver']);
