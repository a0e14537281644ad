// `auditgate approvals list|show|approve|reject`: the approvers' command line, against the
// gateway's admin API (docs/approvals.md). The token comes from --token or AUDITGATE_TOKEN and
// is sent only in the Authorization header; it is never printed.
import { readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import type { RequestStatus } from '../../proxy/approvals/types.js';
import { AdminApiError, AdminClient, AdminConnectionError, DEFAULT_ADMIN_URL } from '../../proxy/admin/client.js';
import type { RequestView } from '../../proxy/admin/server.js';
import { CliError } from '../errors.js';

export interface AdminArgs {
  admin?: string;
  token?: string;
  ca?: string;
  json?: boolean;
}

export interface CliOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const processOutput: CliOutput = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STATUSES: readonly RequestStatus[] = ['pending', 'approved', 'released', 'rejected', 'expired', 'withdrawn'];

/** The --admin / --token / --ca / --json options every admin-API command takes. */
export function adminOptions<T>(y: Argv<T>): Argv<T & AdminArgs> {
  return y
    .option('admin', {
      type: 'string',
      describe: `admin API URL (default $AUDITGATE_ADMIN_URL or ${DEFAULT_ADMIN_URL})`,
    })
    .option('token', {
      type: 'string',
      describe: 'bearer token (default $AUDITGATE_TOKEN; prefer the variable: arguments are visible to other local users)',
    })
    .option('ca', { type: 'string', describe: 'PEM file with the CA that signed the admin listener\'s certificate (https)' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON instead of text' }) as unknown as Argv<T & AdminArgs>;
}

/** Builds the client from the options and the environment; explains what is missing. */
export async function adminClient(args: AdminArgs, env: NodeJS.ProcessEnv = process.env): Promise<AdminClient> {
  const token = (args.token ?? env.AUDITGATE_TOKEN ?? '').trim();
  if (token === '') {
    throw new CliError(
      'a bearer token is required: set AUDITGATE_TOKEN (for development: export AUDITGATE_TOKEN=$(auditgate token --sub you@example.com --kind human --groups approvers)) or pass --token',
    );
  }
  if (/\s/.test(token)) throw new CliError('the token must not contain whitespace (is AUDITGATE_TOKEN set to the token alone?)');
  let ca: Buffer | undefined;
  if (args.ca !== undefined) {
    try {
      ca = await readFile(args.ca);
    } catch (err) {
      throw new CliError(`cannot read --ca ${args.ca}: ${(err as Error).message}`);
    }
  }
  const url = args.admin ?? (env.AUDITGATE_ADMIN_URL && env.AUDITGATE_ADMIN_URL !== '' ? env.AUDITGATE_ADMIN_URL : DEFAULT_ADMIN_URL);
  try {
    return new AdminClient({ url, token, ...(ca ? { ca } : {}) });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

const REFUSALS: Record<string, string> = {
  self_approval: 'you made this request; someone else must decide it',
  not_an_approver: 'you are not in any of the request\'s approver groups',
  duplicate_approver: 'you have already decided on this request',
  approver_kind: 'your identity kind cannot approve or reject (approvers need a human token, e.g. auditgate token --kind human)',
  role_not_requestable: 'that role cannot be requested',
  not_pending: 'the request is no longer pending',
  already_decided: 'the request has already been decided',
};

/** API and connection failures as one-line CLI errors (exit 1); never includes the token. */
export function explain(err: unknown, what?: string): never {
  if (err instanceof CliError) throw err;
  if (err instanceof AdminConnectionError) throw new CliError(err.message, 1);
  if (err instanceof AdminApiError) {
    if (err.status === 401) throw new CliError(`the admin API refused the token: ${err.message} (HTTP 401)`, 1);
    if (err.status === 404 && what) throw new CliError(`no request ${what} (or you may not see it)`, 1);
    const hint = REFUSALS[err.code];
    throw new CliError(`refused (${err.code}, HTTP ${err.status}): ${hint ? `${hint}: ` : ''}${err.message}`, 1);
  }
  throw err;
}

/** Replaces control characters (terminal escapes) in text from the API; keeps newlines and tabs. */
export function safe(text: unknown): string {
  // eslint-disable-next-line no-control-regex
  return String(text).replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
const oneLine = (text: unknown) => safe(text).replace(/\s+/g, ' ').trim();
const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export function formatLeft(ms: number): string {
  if (!(ms > 0)) return 'expired';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

const approvalsOf = (r: RequestView) => r.decisions.filter((d) => d.decision === 'approve').length;

function commandTag(facts: unknown): string | null {
  const f = facts as { command_tag?: unknown } | null;
  return f && typeof f === 'object' && !Array.isArray(f) && typeof f.command_tag === 'string' && f.command_tag !== '' ? f.command_tag : null;
}

function tablesOf(facts: unknown): string[] {
  const out: string[] = [];
  const walk = (f: unknown, depth: number): void => {
    if (!f || typeof f !== 'object' || depth > 4) return;
    if (Array.isArray(f)) return f.forEach((x) => walk(x, depth + 1));
    const o = f as { tables?: unknown; statements?: unknown };
    if (Array.isArray(o.tables)) {
      for (const t of o.tables as { schema?: unknown; name?: unknown; access?: unknown }[]) {
        if (!t || typeof t.name !== 'string') continue;
        const name = `${typeof t.schema === 'string' && t.schema ? `${t.schema}.` : ''}${t.name}${typeof t.access === 'string' ? ` (${t.access})` : ''}`;
        if (!out.includes(name)) out.push(name);
      }
    }
    walk(o.statements, depth + 1);
  };
  walk(facts, 0);
  return out;
}

function what(r: RequestView): string {
  if (r.type === 'access') return `role ${r.role} for ${r.minutes} min`;
  return `${commandTag(r.facts) ?? 'statement'} on ${r.database} as ${r.upstream_role}: ${oneLine(r.sql)}`;
}

function timeLeft(r: RequestView, offset: number): string {
  if (r.status === 'pending') return formatLeft(Date.parse(r.expires_at) - (Date.now() + offset));
  if (r.type === 'access' && r.status === 'approved' && r.granted_until) return `granted ${formatLeft(Date.parse(r.granted_until) - (Date.now() + offset))}`;
  return '-';
}

export function formatTable(requests: RequestView[], serverTime?: string): string {
  if (requests.length === 0) return 'No requests.\n';
  const offset = serverTime ? Date.parse(serverTime) - Date.now() : 0;
  const rows = [
    ['ID', 'TYPE', 'STATUS', 'REQUESTER', 'APPROVALS', 'LEFT', 'WHAT'],
    ...requests.map((r) => [
      r.id,
      r.type,
      r.status,
      clip(oneLine(r.requester.subject), 32),
      `${approvalsOf(r)}/${r.required_approvals}`,
      timeLeft(r, offset),
      clip(what(r), 80),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

const VIEWER: Record<string, string> = {
  self_approval: 'you made this request; someone else must decide',
  not_an_approver: 'you are not in an approver group',
  already_decided: 'you have already decided',
  approver_kind: 'your identity kind cannot approve',
  expired: 'the time to decide has run out',
  not_pending: 'no longer pending',
};

export function formatDetail(r: RequestView, serverTime?: string): string {
  const offset = serverTime ? Date.parse(serverTime) - Date.now() : 0;
  const lines: string[] = [];
  const add = (label: string, value: string) => lines.push(`${`${label}:`.padEnd(15)}${value}`);
  add('Request', r.id);
  add('Type', r.type === 'statement' ? 'statement (held for approval)' : 'access (session-level role grant)');
  add('Status', `${r.status}; ${approvalsOf(r)} of ${r.required_approvals} approvals${r.status === 'pending' ? `; ${timeLeft(r, offset)} left (until ${r.expires_at})` : ''}`);
  add('Requester', `${safe(r.requester.subject)} (${r.requester.kind}, issuer ${safe(r.requester.issuer)})`);
  const claims = Object.entries(r.requester.claims ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  add('Provenance', claims.length === 0 ? '(none in the token)' : claims.map(([k, v]) => `${safe(k)}=${oneLine(typeof v === 'string' ? v : JSON.stringify(v))}`).join(', '));
  if (r.requester.groups.length > 0) add('Groups', r.requester.groups.map(safe).join(', '));
  if (r.type === 'statement') {
    add('Database', `${safe(r.database)} as ${safe(r.upstream_role)}`);
    add('Policy reason', oneLine(r.reason));
    add('Session', `${safe(r.session_id)} on gateway ${safe(r.gateway_id)}`);
  } else {
    add('Role', `${safe(r.role)} for ${r.minutes} minutes`);
    add('Reason', oneLine(r.reason));
    if (r.granted_until) add('Granted until', r.granted_until);
  }
  add('Approvers', `${r.approver_groups.map(safe).join(', ')} (${r.required_approvals} required)`);
  add('Created', r.created_at);
  add('You', r.viewer.can_decide ? 'may approve or reject' : `cannot decide: ${VIEWER[r.viewer.reason ?? ''] ?? r.viewer.reason}`);
  if (r.decisions.length > 0) {
    lines.push('Decisions:');
    for (const d of r.decisions) lines.push(`  ${d.decision} by ${safe(d.approver.subject)} at ${d.at}${d.comment ? `: "${oneLine(d.comment)}"` : ''}`);
  }
  if (r.type === 'statement') {
    if (r.released_at) add('Released', `${r.released_at} by gateway ${safe(r.released_by_gateway ?? '?')}`);
    const tables = tablesOf(r.facts);
    if (tables.length > 0) add('Tables', tables.map(safe).join(', '));
    lines.push('SQL:');
    for (const l of safe(r.sql).split('\n')) lines.push(`  ${l}`);
    if (r.params && r.params.length > 0) {
      lines.push('Parameters:');
      r.params.forEach((p, i) => lines.push(`  $${i + 1} = ${p === null ? 'NULL' : JSON.stringify(p).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}`));
    }
    add('Hash', r.statement_hash);
  }
  return `${lines.join('\n')}\n`;
}

/** A full id, or an unambiguous prefix of one the caller can see (any status). */
export async function resolveId(client: AdminClient, id: string): Promise<string> {
  const wanted = id.trim().toLowerCase();
  if (UUID.test(wanted)) return wanted;
  if (!/^[0-9a-f-]{4,35}$/.test(wanted)) throw new CliError(`${JSON.stringify(id)} is not a request id (a UUID, or at least its first 4 characters)`);
  let requests: RequestView[];
  try {
    requests = (await client.list({ status: 'all', limit: 1000 })).requests;
  } catch (err) {
    explain(err);
  }
  const matches = requests.filter((r) => r.id.startsWith(wanted));
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length === 0) throw new CliError(`no request id starts with ${wanted}`, 1);
  throw new CliError(`${wanted} is ambiguous: ${matches.slice(0, 5).map((r) => r.id).join(', ')}${matches.length > 5 ? ', ...' : ''}`, 1);
}

export interface ListArgs extends AdminArgs {
  status?: string;
  type?: 'statement' | 'access';
  limit?: number;
}

export async function runApprovalsList(args: ListArgs, out: CliOutput = processOutput, env: NodeJS.ProcessEnv = process.env): Promise<RequestView[]> {
  let status: RequestStatus[] | 'all' = ['pending'];
  if (args.status !== undefined) {
    if (args.status === 'all') status = 'all';
    else {
      const parts = args.status.split(',').map((s) => s.trim()).filter((s) => s !== '');
      const bad = parts.filter((s) => !(STATUSES as readonly string[]).includes(s));
      if (parts.length === 0 || bad.length > 0) throw new CliError(`--status must be all or a comma-separated list of ${STATUSES.join(', ')}`);
      status = parts as RequestStatus[];
    }
  }
  const client = await adminClient(args, env);
  try {
    const res = await client.list({ status, ...(args.type ? { type: args.type } : {}), ...(args.limit !== undefined ? { limit: args.limit } : {}) });
    out.stdout(args.json ? `${JSON.stringify(res.requests, null, 2)}\n` : formatTable(res.requests, res.server_time));
    return res.requests;
  } catch (err) {
    explain(err);
  }
}

export interface ShowArgs extends AdminArgs {
  id: string;
}

export async function runApprovalsShow(args: ShowArgs, out: CliOutput = processOutput, env: NodeJS.ProcessEnv = process.env): Promise<RequestView> {
  const client = await adminClient(args, env);
  const id = await resolveId(client, String(args.id));
  try {
    const res = await client.get(id);
    out.stdout(args.json ? `${JSON.stringify(res.request, null, 2)}\n` : formatDetail(res.request, res.server_time));
    return res.request;
  } catch (err) {
    explain(err, id);
  }
}

export interface DecideArgs extends ShowArgs {
  comment?: string;
}

export async function runApprovalsDecide(
  decision: 'approve' | 'reject',
  args: DecideArgs,
  out: CliOutput = processOutput,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RequestView> {
  const client = await adminClient(args, env);
  const id = await resolveId(client, String(args.id));
  try {
    const res = await client.decide(id, decision, args.comment ?? '');
    const r = res.request;
    out.stdout(
      args.json
        ? `${JSON.stringify(r, null, 2)}\n`
        : `${decision === 'approve' ? 'Approved' : 'Rejected'} ${r.id} (${r.type}: ${clip(what(r), 80)}). Status: ${r.status}; ${approvalsOf(r)} of ${r.required_approvals} approvals.\n`,
    );
    return r;
  } catch (err) {
    explain(err, id);
  }
}

const idPositional = (y: Argv) => y.positional('id', { type: 'string', describe: 'request id (or an unambiguous prefix)' });

export const approvalsCommand: CommandModule<object, object> = {
  command: 'approvals',
  describe: 'List, show, approve and reject requests held for approval (through the gateway\'s admin API)',
  builder: (y) =>
    y
      .command({
        command: 'list',
        describe: 'List requests (pending by default)',
        builder: (b) =>
          adminOptions(b)
            .option('status', { type: 'string', describe: 'all, or a comma-separated list: pending, approved, released, rejected, expired, withdrawn' })
            .option('type', { choices: ['statement', 'access'] as const, describe: 'only statement or access requests' })
            .option('limit', { type: 'number', describe: 'at most this many (1-1000, default 200)' }),
        handler: async (a) => {
          await runApprovalsList(a as unknown as ListArgs);
        },
      })
      .command({
        command: 'show <id>',
        describe: 'Everything about one request, including the SQL',
        builder: (b) => adminOptions(idPositional(b)),
        handler: async (a) => {
          await runApprovalsShow(a as unknown as ShowArgs);
        },
      })
      .command({
        command: 'approve <id>',
        describe: 'Approve a request',
        builder: (b) => adminOptions(idPositional(b)).option('comment', { type: 'string', default: '', describe: 'recorded with your decision' }),
        handler: async (a) => {
          await runApprovalsDecide('approve', a as unknown as DecideArgs);
        },
      })
      .command({
        command: 'reject <id>',
        describe: 'Reject a request',
        builder: (b) => adminOptions(idPositional(b)).option('comment', { type: 'string', default: '', describe: 'recorded with your decision' }),
        handler: async (a) => {
          await runApprovalsDecide('reject', a as unknown as DecideArgs);
        },
      })
      .demandCommand(1, 'Name an action: list, show, approve or reject')
      .example('export AUDITGATE_TOKEN=$($0 token --sub alice@acme.test --kind human --groups dba)', '')
      .example('$0 approvals list', '')
      .example('$0 approvals approve 3f2a --comment "checked with the ticket"', '') as unknown as Argv<object>,
  handler: () => undefined,
};
