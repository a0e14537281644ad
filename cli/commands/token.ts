import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { IdentityKind } from '../../policies/contract.js';
import { defaultDevIssuerDir, ensureDevIssuer, issueDevToken, type DevIssuer } from '../../proxy/identity/dev-issuer.js';
import { CliError } from '../errors.js';

export interface TokenArgs {
  sub: string;
  groups?: string;
  kind?: IdentityKind;
  claims?: string;
  ttl?: string | number;
  dir?: string;
  issuer?: string;
  audience?: string;
}

export interface TokenOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processOutput: TokenOutput = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** "3600", "90s", "30m", "1h", "7d" -> seconds. */
export function parseTtl(value: string | number): number {
  const m = /^\s*(\d+)\s*(s|m|h|d)?\s*$/i.exec(String(value));
  const seconds = m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd'] : NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new CliError(`--ttl must be a positive duration such as 3600, 90s, 30m, 1h or 7d (got ${JSON.stringify(String(value))})`);
  }
  return seconds;
}

function parseClaims(raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new CliError(`--claims is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CliError('--claims must be a JSON object, e.g. \'{"model":"claude-sonnet-4","repository":"acme/shop"}\'');
  }
  return value as Record<string, unknown>;
}

/**
 * Mints a development token: the token alone (and a newline) on stdout, so
 * `PGPASSWORD=$(auditgate token ...)` works; the warning and the gateway config on stderr.
 */
export async function runTokenCommand(args: TokenArgs, out: TokenOutput = processOutput): Promise<{ token: string; issuer: DevIssuer }> {
  if (typeof args.sub !== 'string' || args.sub.trim() === '') throw new CliError('--sub is required (the token subject, e.g. agent:me)');
  if (args.kind !== undefined && args.kind !== 'agent' && args.kind !== 'human') {
    throw new CliError(`--kind must be agent or human (got ${JSON.stringify(args.kind)})`);
  }
  const claims = args.claims === undefined ? undefined : parseClaims(args.claims);
  const ttlSeconds = parseTtl(args.ttl ?? '1h');
  const groups = args.groups?.split(',').map((g) => g.trim()).filter((g) => g.length > 0);
  const dir = resolve(args.dir ?? defaultDevIssuerDir());

  let issuer: DevIssuer;
  let token: string;
  try {
    issuer = await ensureDevIssuer(dir, {
      ...(args.issuer === undefined ? {} : { issuer: args.issuer }),
      ...(args.audience === undefined ? {} : { audience: args.audience }),
    });
    token = await issueDevToken(dir, {
      sub: args.sub,
      ttlSeconds,
      ...(groups === undefined ? {} : { groups }),
      ...(args.kind === undefined ? {} : { kind: args.kind }),
      ...(claims === undefined ? {} : { claims }),
    });
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot issue a development token: ${(err as Error).message}`);
  }

  const expires = new Date(Date.now() + ttlSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  out.stderr(
    `WARNING: development issuer, not for production: anyone who can read ${issuer.keyPath} can sign tokens.\n` +
      `Token for ${args.sub}, valid until ${expires}. To trust it, add to the gateway config (identity.issuers):\n` +
      `  - issuer: ${issuer.issuer}\n` +
      `    audience: ${issuer.audience}\n` +
      `    jwks_file: ${issuer.jwksPath}\n` +
      `    algorithms: [${issuer.algorithm}]\n`,
  );
  out.stdout(`${token}\n`);
  return { token, issuer };
}

export const tokenCommand: CommandModule<object, TokenArgs> = {
  command: 'token',
  describe: 'Mint a JWT from the local development issuer, to use as the gateway password (not for production)',
  builder: (y) =>
    y
      .option('sub', { type: 'string', demandOption: true, describe: 'subject, e.g. agent:me or alice@acme.test' })
      .option('groups', { type: 'string', describe: 'comma-separated groups, e.g. agents,agent-writers' })
      .option('kind', { choices: ['agent', 'human'] as const, describe: 'identity kind (gateway default when absent: agent)' })
      .option('claims', { type: 'string', describe: 'extra claims as a JSON object, e.g. \'{"model":"m","repository":"r"}\'' })
      .option('ttl', { type: 'string', default: '1h', describe: 'lifetime: seconds or 90s, 30m, 1h, 7d' })
      .option('dir', { type: 'string', describe: 'dev issuer folder (default $AUDITGATE_HOME/dev-issuer, AUDITGATE_HOME defaulting to ~/.auditgate)' })
      .option('issuer', { type: 'string', describe: 'iss to use (stored for later tokens; default https://auditgate.dev/dev-issuer)' })
      .option('audience', { type: 'string', describe: 'aud to use (stored for later tokens; default auditgate)' })
      .example(
        'PGPASSWORD=$($0 token --sub agent:me --groups agents --claims \'{"model":"m","repository":"r"}\') psql "host=127.0.0.1 port=6432 user=agent dbname=app sslmode=require"',
        '',
      ) as unknown as Argv<TokenArgs>,
  handler: async (args) => {
    await runTokenCommand(args);
  },
};
