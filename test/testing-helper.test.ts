// `auditgate/testing` as a team would use it: imported by package name, matchers registered.
import { describe, expect, it } from 'vitest';
import { decide } from 'auditgate/testing';

const agent = {
  subject: 'agent:claude@acme',
  issuer: 'https://idp.acme.test',
  groups: ['agents'],
  kind: 'agent' as const,
  claims: { model: 'claude-sonnet-4', repository: 'acme/shop' },
};
const writer = { ...agent, groups: ['agents', 'agent-writers'] };

describe('auditgate/testing', () => {
  it('decides SQL with the default bundle and reads naturally', async () => {
    expect(await decide({ sql: 'DELETE FROM public.orders', identity: writer })).toBeDenied(/without WHERE/);
    expect(await decide({ sql: "UPDATE public.orders SET status = 'x' WHERE id = 1", identity: writer })).toRequireApproval(
      'dba-oncall',
    );
    expect(await decide({ sql: 'SELECT * FROM public.customers', identity: agent })).toMask('public.customers.ssn');
    expect(await decide({ sql: 'SELECT 1', identity: agent })).toBeAllowed();
    expect(await decide({ sql: 'SELECT 1', identity: agent })).not.toBeDenied();
  });

  it('fails with a message that says what the decision was', async () => {
    const d = await decide({ sql: 'GRANT ALL ON public.customers TO agent', identity: agent });
    expect(() => expect(d).toBeAllowed()).toThrow(/expected the statement to be allowed, but it was denied: .*GRANT/i);
    expect(() => expect(d).toBeDenied(/no such reason/)).toThrow(/to be denied with a reason matching/);
    expect(() => expect(d).toRequireApproval()).toThrow(/to require approval/);
    const allowed = await decide({ sql: 'SELECT 1', identity: agent });
    expect(() => expect(allowed).toMask('public.customers.ssn')).toThrow(/public\.customers\.ssn to be masked/);
  });

  it('accepts explicit statement facts and a chosen bundle', async () => {
    const d = await decide({
      statement: { kind: 'privilege', command_tag: 'GRANT' },
      identity: agent,
      bundle: 'policies/dist/auditgate.tar.gz',
    });
    expect(d).toBeDenied();
  });
});
