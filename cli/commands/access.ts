// `auditgate access request --role R --minutes N --reason "..."`: ask for an upstream role for
// your own sessions for a while (a session-level access request), and `auditgate access grants`
// to see what you hold. Through the gateway's admin API, like `auditgate approvals`.
import type { Argv, CommandModule } from 'yargs';
import type { MeResponse } from '../../proxy/admin/client.js';
import type { RequestView } from '../../proxy/admin/server.js';
import { CliError } from '../errors.js';
import { adminClient, adminOptions, explain, formatLeft, processOutput, safe, type AdminArgs, type CliOutput } from './approvals.js';

export interface AccessRequestArgs extends AdminArgs {
  role: string;
  minutes: number | string;
  reason: string;
}

export async function runAccessRequest(args: AccessRequestArgs, out: CliOutput = processOutput, env: NodeJS.ProcessEnv = process.env): Promise<RequestView> {
  const role = typeof args.role === 'string' ? args.role.trim() : '';
  if (role === '') throw new CliError('--role is required: the upstream role you need, e.g. app_admin');
  const minutes = Number(args.minutes);
  if (!Number.isInteger(minutes) || minutes < 1) throw new CliError(`--minutes must be a whole number of minutes, at least 1 (got ${JSON.stringify(String(args.minutes))})`);
  const reason = typeof args.reason === 'string' ? args.reason.trim() : '';
  if (reason === '') throw new CliError('--reason is required: say why you need the role (approvers see it)');
  const client = await adminClient(args, env);
  try {
    const res = await client.requestAccess({ role, minutes, reason });
    const r = res.request as RequestView;
    if (r.type !== 'access') throw new CliError('the admin API answered with something that is not an access request', 1);
    out.stdout(
      args.json
        ? `${JSON.stringify(r, null, 2)}\n`
        : `Access request ${r.id} created: role ${safe(r.role)} for ${r.minutes} minutes.\n` +
            `Waiting for ${r.required_approvals} approval${r.required_approvals === 1 ? '' : 's'} from ${r.approver_groups.map(safe).join(' or ')}, until ${r.expires_at}.\n` +
            `Once approved, new sessions of ${safe(r.requester.subject)} may use the role until the grant ends. Check with: auditgate access grants\n`,
    );
    return r;
  } catch (err) {
    explain(err);
  }
}

export async function runAccessGrants(args: AdminArgs, out: CliOutput = processOutput, env: NodeJS.ProcessEnv = process.env): Promise<MeResponse['grants']> {
  const client = await adminClient(args, env);
  try {
    const me = await client.me();
    if (args.json) out.stdout(`${JSON.stringify(me.grants, null, 2)}\n`);
    else if (me.grants.length === 0) out.stdout(`No active grants for ${safe(me.identity.subject)}.\n`);
    else {
      const offset = Date.parse(me.server_time) - Date.now();
      for (const g of me.grants) {
        out.stdout(`${safe(g.role)}  until ${g.until} (${formatLeft(Date.parse(g.until) - (Date.now() + offset))} left)  request ${g.request_id}\n`);
      }
    }
    return me.grants;
  } catch (err) {
    explain(err);
  }
}

export const accessCommand: CommandModule<object, object> = {
  command: 'access',
  describe: 'Request an upstream role for your sessions for a while, and list your grants (through the admin API)',
  builder: (y) =>
    y
      .command({
        command: 'request',
        describe: 'Ask approvers for a role for N minutes',
        builder: (b) =>
          adminOptions(b)
            .option('role', { type: 'string', demandOption: true, describe: 'the upstream role, e.g. app_admin' })
            .option('minutes', { type: 'number', demandOption: true, describe: 'how long the grant lasts once approved' })
            .option('reason', { type: 'string', demandOption: true, describe: 'why (approvers see it)' }),
        handler: async (a) => {
          await runAccessRequest(a as unknown as AccessRequestArgs);
        },
      })
      .command({
        command: 'grants',
        describe: 'Roles your identity holds now through approved access requests',
        builder: (b) => adminOptions(b),
        handler: async (a) => {
          await runAccessGrants(a as unknown as AdminArgs);
        },
      })
      .demandCommand(1, 'Name an action: request or grants')
      .example('$0 access request --role app_admin --minutes 30 --reason "OPS-42: fix the stuck migration"', '') as unknown as Argv<object>,
  handler: () => undefined,
};
