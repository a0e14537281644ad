// `auditgate approvals ...` and `auditgate access ...` (cli/commands/approvals.ts, access.ts)
// against a real admin listener, approval service and control database.
import { createServer } from 'node:net';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessCommand, runAccessGrants, runAccessRequest } from '../../cli/commands/access.js';
import { approvalsCommand, runApprovalsDecide, runApprovalsList, runApprovalsShow } from '../../cli/commands/approvals.js';
import { CliError } from '../../cli/errors.js';
import type { ApprovalService } from '../approvals/types.js';
import { createControlDb, createTestIssuer, startService, startTestAdmin, statementRequest, type TestIssuer } from './admin.fixtures.js';
import type { AdminServer } from './server.js';

let db: Awaited<ReturnType<typeof createControlDb>>;
let service: ApprovalService;
let issuer: TestIssuer;
let server: AdminServer;
let alice: string;
let agent: string;
let eve: string;
const CLAIMS = { model: 'claude-sonnet-4', repository: 'acme/shop', ticket: 'OPS-9' };

beforeAll(async () => {
  db = await createControlDb('cli');
  issuer = await createTestIssuer();
  service = await startService(db.url);
  server = await startTestAdmin(service, issuer);
  alice = await issuer.token('alice@acme', ['dba']);
  agent = await issuer.token('agent:claude@acme', ['agents'], 'agent', CLAIMS);
  eve = await issuer.token('eve@acme', ['eng']);
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await db?.drop();
  await issuer?.cleanup();
});

function capture() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) } };
}
const env = (token?: string): NodeJS.ProcessEnv => ({ ...(token ? { AUDITGATE_TOKEN: token } : {}) });
const agentIdentity = () => issuer.identity('agent:claude@acme', ['agents'], 'agent', CLAIMS);

async function cliError(p: Promise<unknown>): Promise<CliError> {
  const err = await p.then(
    () => new Error('expected a CliError'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CliError);
  return err as CliError;
}

describe('auditgate approvals', () => {
  it('lists pending requests as a table, or JSON', async () => {
    const held = await service.createStatementRequest(statementRequest(agentIdentity(), { sql: 'DELETE FROM public.orders\nWHERE id = $1' }));
    const { io, out } = capture();
    await runApprovalsList({ admin: server.url, json: false }, io, env(alice));
    const lines = out.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+STATUS\s+REQUESTER\s+APPROVALS\s+LEFT\s+WHAT$/);
    const row = lines.find((l) => l.startsWith(held.id))!;
    expect(row).toMatch(/statement\s+pending\s+agent:claude@acme\s+0\/1\s+9m \d\ds\s+DELETE on app as app_rw: DELETE FROM public\.orders WHERE id = \$1$/);
    const json = capture();
    await runApprovalsList({ admin: server.url, json: true, status: 'pending', type: 'statement' }, json.io, env(alice));
    expect(JSON.parse(json.out.stdout).map((r: { id: string }) => r.id)).toContain(held.id);
    const none = capture();
    await runApprovalsList({ admin: server.url, json: false }, none.io, env(eve));
    expect(none.out.stdout).toBe('No requests.\n');
  });

  it('shows everything about one request, with terminal escapes neutralised', async () => {
    const held = await service.createStatementRequest(
      statementRequest(agentIdentity(), { sql: "UPDATE public.orders SET note = '\u001b[31mred' WHERE id = $1", params: ['7', null] }),
    );
    const { io, out } = capture();
    await runApprovalsShow({ admin: server.url, id: held.id.slice(0, 8) }, io, env(alice));
    expect(out.stdout).toContain(`Request:       ${held.id}`);
    expect(out.stdout).toContain('Requester:     agent:claude@acme (agent, issuer https://auditgate.dev/dev-issuer)');
    expect(out.stdout).toContain('Provenance:    model=claude-sonnet-4, repository=acme/shop, ticket=OPS-9');
    expect(out.stdout).toContain('Policy reason: production writes need a DBA');
    expect(out.stdout).toContain('Tables:        public.orders (write)');
    expect(out.stdout).toContain("SQL:\n  UPDATE public.orders SET note = '\\x1b[31mred' WHERE id = $1\n");
    expect(out.stdout).toContain('Parameters:\n  $1 = "7"\n  $2 = NULL\n');
    expect(out.stdout).toContain('You:           may approve or reject');
    expect(out.stdout).not.toContain('\u001b');
  });

  it('approves and rejects with a comment (a unique id prefix is enough)', async () => {
    const one = await service.createStatementRequest(statementRequest(agentIdentity()));
    const two = await service.createStatementRequest(statementRequest(agentIdentity()));
    const { io, out } = capture();
    await runApprovalsDecide('approve', { admin: server.url, id: one.id.slice(0, 13), comment: 'checked with OPS-9' }, io, env(alice));
    expect(out.stdout).toMatch(new RegExp(`^Approved ${one.id} \\(statement: DELETE on app as app_rw: .*\\)\\. Status: approved; 1 of 1 approvals\\.\\n$`));
    expect((await service.get(one.id))!.decisions[0]).toMatchObject({ decision: 'approve', comment: 'checked with OPS-9' });
    const r = capture();
    await runApprovalsDecide('reject', { admin: server.url, id: two.id, comment: 'no', json: true }, r.io, env(alice));
    expect(JSON.parse(r.out.stdout)).toMatchObject({ id: two.id, status: 'rejected' });
  });

  it('explains refusals and failures without ever printing the token', async () => {
    const held = await service.createStatementRequest(statementRequest(agentIdentity()));
    const noToken = await cliError(runApprovalsList({ admin: server.url }, capture().io, env()));
    expect(noToken.message).toMatch(/AUDITGATE_TOKEN/);
    const badToken = await cliError(runApprovalsList({ admin: server.url, token: `${alice}x` }, capture().io, env()));
    expect([badToken.exitCode, badToken.message]).toEqual([1, expect.stringMatching(/^the admin API refused the token: invalid token: .* \(HTTP 401\)$/)]);
    expect(badToken.message).not.toContain(alice.slice(20));
    const self = await cliError(runApprovalsDecide('approve', { admin: server.url, id: held.id }, capture().io, env(agent)));
    expect(self.message).toMatch(/^refused \(approver_kind, HTTP 403\)/);
    const wrong = await cliError(runApprovalsDecide('approve', { admin: server.url, id: held.id }, capture().io, env(eve)));
    expect(wrong.message).toMatch(/^refused \(not_an_approver, HTTP 403\): you are not in any of the request's approver groups/);
    const gone = await cliError(runApprovalsShow({ admin: server.url, id: '6f1d1a2e-8c1b-4c3e-9a55-0d4b1c2e3f40' }, capture().io, env(alice)));
    expect(gone.message).toMatch(/^no request 6f1d1a2e/);
    const notId = await cliError(runApprovalsShow({ admin: server.url, id: 'xyz' }, capture().io, env(alice)));
    expect(notId.exitCode).toBe(2);

    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const refused = await cliError(runApprovalsList({ admin: `http://127.0.0.1:${free}` }, capture().io, env(alice)));
    expect(refused.message).toMatch(/^cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+: connection refused/);
    const creds = await cliError(runApprovalsList({ admin: `http://user:pw@127.0.0.1:${free}` }, capture().io, env(alice)));
    expect(creds.message).toMatch(/must not contain credentials/);
    for (const e of [noToken, badToken, self, wrong, gone, refused]) expect(e.message).not.toContain(alice);
  });

  it('self-approval is refused with its reason', async () => {
    const { io } = capture();
    const r = await runAccessRequest({ admin: server.url, role: 'app_admin', minutes: 10, reason: 'hotfix' }, io, env(alice));
    const self = await cliError(runApprovalsDecide('approve', { admin: server.url, id: r.id }, capture().io, env(alice)));
    expect(self.message).toMatch(/^refused \(self_approval, HTTP 403\): you made this request; someone else must decide it/);
  });

  it('works through yargs: approvals approve ID --comment', async () => {
    const held = await service.createStatementRequest(statementRequest(agentIdentity()));
    const saved = process.env.AUDITGATE_TOKEN;
    const write = process.stdout.write;
    let printed = '';
    process.env.AUDITGATE_TOKEN = alice;
    process.stdout.write = ((t: string) => ((printed += t), true)) as typeof process.stdout.write;
    try {
      await yargs()
        .command(approvalsCommand)
        .command(accessCommand)
        .strict()
        .fail((msg, err) => {
          throw err ?? new Error(msg);
        })
        .parseAsync(['approvals', 'approve', held.id, '--comment', 'via yargs', '--admin', server.url]);
    } finally {
      process.stdout.write = write;
      if (saved === undefined) delete process.env.AUDITGATE_TOKEN;
      else process.env.AUDITGATE_TOKEN = saved;
    }
    expect(printed).toMatch(/^Approved /);
    expect((await service.get(held.id))!.decisions[0]!.comment).toBe('via yargs');
  });
});

describe('auditgate access', () => {
  it('requests a role; once approved it is listed as a grant', async () => {
    const { io, out } = capture();
    const r = await runAccessRequest({ admin: server.url, role: 'app_writer', minutes: '30', reason: 'OPS-9 backfill' }, io, env(agent));
    expect(out.stdout).toMatch(/^Access request [0-9a-f-]{36} created: role app_writer for 30 minutes\.\nWaiting for 1 approval from dba, until /);
    expect(r).toMatchObject({ type: 'access', status: 'pending', requester: { subject: 'agent:claude@acme' } });
    const before = capture();
    await runAccessGrants({ admin: server.url }, before.io, env(agent));
    expect(before.out.stdout).toBe('No active grants for agent:claude@acme.\n');
    await runApprovalsDecide('approve', { admin: server.url, id: r.id, comment: 'ok' }, capture().io, env(alice));
    const after = capture();
    await runAccessGrants({ admin: server.url }, after.io, env(agent));
    expect(after.out.stdout).toMatch(new RegExp(`^app_writer  until \\S+ \\((29|30)m \\d\\ds left\\)  request ${r.id}\\n$`));
  });

  it('explains bad arguments and roles that cannot be requested', async () => {
    expect((await cliError(runAccessRequest({ admin: server.url, role: 'app_writer', minutes: 'soon', reason: 'x' }, capture().io, env(agent)))).exitCode).toBe(2);
    expect((await cliError(runAccessRequest({ admin: server.url, role: 'app_writer', minutes: 5, reason: ' ' }, capture().io, env(agent)))).message).toMatch(/--reason is required/);
    const no = await cliError(runAccessRequest({ admin: server.url, role: 'postgres', minutes: 5, reason: 'x' }, capture().io, env(agent)));
    expect(no.message).toMatch(/^refused \(role_not_requestable, HTTP 403\): that role cannot be requested/);
  });
});
