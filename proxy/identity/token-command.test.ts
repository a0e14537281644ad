// `auditgate token` (cli/commands/token.ts), tested through its handler function and yargs.
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import yargs from 'yargs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CliError } from '../../cli/errors.js';
import { parseTtl, runTokenCommand, tokenCommand, type TokenArgs } from '../../cli/commands/token.js';
import { tempDir } from './identity.fixtures.js';
import { IdentityVerifier } from './verifier.js';

function capture() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) } };
}

async function cliError(args: TokenArgs): Promise<CliError> {
  const { io, out } = capture();
  const err = await runTokenCommand(args, io).then(
    () => new Error('expected a CliError'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CliError);
  expect(out.stdout).toBe(''); // nothing that a $(...) could mistake for a token
  return err as CliError;
}

describe('runTokenCommand', () => {
  it('prints only the token on stdout, and the warning and gateway config on stderr', async () => {
    const dir = join(await tempDir(), 'dev');
    const { io, out } = capture();
    const { token, issuer } = await runTokenCommand(
      { sub: 'agent:me', groups: 'agents, agent-writers', kind: 'agent', claims: '{"model":"m","repository":"r"}', ttl: '30m', dir },
      io,
    );
    expect(out.stdout).toBe(`${token}\n`);
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(out.stderr).toMatch(/development issuer, not for production/);
    expect(out.stderr).toContain(`jwks_file: ${join(dir, 'jwks.json')}`);
    expect(out.stderr).toContain('issuer: https://auditgate.dev/dev-issuer');
    expect(out.stderr).toContain('audience: auditgate');
    expect(out.stderr).toContain('algorithms: [EdDSA]');
    expect(out.stderr).not.toContain(token);

    const v = new IdentityVerifier({ issuers: [{ issuer: issuer.issuer, audience: issuer.audience, jwks_file: issuer.jwksPath, algorithms: ['EdDSA'] }] });
    expect(await v.verify(out.stdout.trim())).toStrictEqual({
      subject: 'agent:me',
      issuer: 'https://auditgate.dev/dev-issuer',
      groups: ['agents', 'agent-writers'],
      kind: 'agent',
      claims: { model: 'm', repository: 'r' },
    });
    const c = decodeJwt(token);
    expect(c.exp! - c.iat!).toBe(1800);
  });

  it('uses --issuer and --audience', async () => {
    const { io, out } = capture();
    const { token } = await runTokenCommand({ sub: 's', dir: await tempDir(), issuer: 'https://dev.acme.test', audience: 'gw' }, io);
    expect(decodeJwt(token)).toMatchObject({ iss: 'https://dev.acme.test', aud: 'gw', sub: 's' });
    expect(out.stderr).toContain('issuer: https://dev.acme.test');
  });

  it('explains invalid --claims JSON with exit code 2', async () => {
    const dir = await tempDir();
    const bad = await cliError({ sub: 's', dir, claims: '{model: m}' });
    expect(bad.exitCode).toBe(2);
    expect(bad.message).toMatch(/^--claims is not valid JSON/);
    expect((await cliError({ sub: 's', dir, claims: '["model"]' })).message).toMatch(/--claims must be a JSON object/);
    expect((await cliError({ sub: 's', dir, claims: 'null' })).message).toMatch(/--claims must be a JSON object/);
    const reserved = await cliError({ sub: 's', dir, claims: '{"aud":"x"}' });
    expect([reserved.exitCode, reserved.message]).toEqual([2, expect.stringMatching(/registered claims \(aud\)/)]);
  });

  it('refuses a bad --ttl and an empty --sub', async () => {
    const dir = await tempDir();
    expect((await cliError({ sub: 's', dir, ttl: 'soon' })).message).toMatch(/--ttl must be a positive duration/);
    expect((await cliError({ sub: 's', dir, ttl: '0' })).exitCode).toBe(2);
    expect((await cliError({ sub: ' ', dir })).message).toMatch(/--sub is required/);
  });

  it('parses durations', () => {
    expect([parseTtl('3600'), parseTtl(90), parseTtl('90s'), parseTtl('30m'), parseTtl('1h'), parseTtl('7d'), parseTtl('2H')]).toEqual([
      3600, 90, 90, 1800, 3600, 604800, 7200,
    ]);
    for (const bad of ['', '-1', '1.5h', '1w', 'h']) expect(() => parseTtl(bad)).toThrow(CliError);
  });
});

describe('tokenCommand (yargs)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('parses the flags and runs the handler', async () => {
    const dir = await tempDir();
    let stdout = '';
    let stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
    await yargs([])
      .command(tokenCommand)
      .strict()
      .exitProcess(false)
      .parseAsync(['token', '--sub', 'agent:y', '--groups', 'a,b', '--kind', 'human', '--dir', dir, '--claims', '{"ticket":"T-1"}']);
    vi.restoreAllMocks();
    const token = stdout.trim();
    expect(stdout).toBe(`${token}\n`);
    expect(stderr).toMatch(/not for production/);
    const c = decodeJwt(token);
    expect(c).toMatchObject({ sub: 'agent:y', groups: ['a', 'b'], auditgate_kind: 'human', ticket: 'T-1' });
    expect(c.exp! - c.iat!).toBe(3600); // default --ttl 1h
  });
});
