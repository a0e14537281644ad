// Starts a real gateway for integration tests: the real config loader, dev issuer, policy
// engine and upstream connector, in front of the machine's PostgreSQL (fixture database).
import { alwaysOpenBundle } from './always-open-bundle.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../../proxy/config/load.js';
import { devIssuerConfig, ensureDevIssuer, issueDevToken, type DevIssuer } from '../../proxy/identity/dev-issuer.js';
import { startGateway, type RunningGateway, type StartOptions } from '../../proxy/server.js';
import { silentLogger } from '../../proxy/session/logger.js';
import { FIXTURE_DB, PG, ensureFixtureDb } from './fixture-db.js';

export interface TestGateway {
  running: RunningGateway;
  port: number;
  dir: string;
  dev: DevIssuer;
  /** A token from the dev issuer (an agent with model/repository claims unless overridden). */
  token(opts?: { sub?: string; groups?: string[]; kind?: 'agent' | 'human'; claims?: Record<string, unknown>; ttlSeconds?: number }): Promise<string>;
  /** node-postgres connection settings for this gateway. */
  pgConfig(password: string, extra?: Record<string, unknown>): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startTestGateway(
  opts: { config?: Record<string, unknown>; upstream?: Record<string, unknown>; start?: StartOptions } = {},
): Promise<TestGateway> {
  await ensureFixtureDb();
  const dir = await mkdtemp(join(tmpdir(), 'auditgate-gw-'));
  const dev = await ensureDevIssuer(join(dir, 'dev-issuer'));
  const issuer = devIssuerConfig(dev);
  const config = {
    listen: { host: '127.0.0.1', port: 0 },
    identity: { issuers: [issuer] },
    upstream: {
      name: 'fixture',
      environment: 'production',
      host: PG.host,
      port: PG.port,
      database: FIXTURE_DB,
      tls: { mode: 'disable' },
      roles: { auditgate_reader: { user: 'auditgate_reader', password: null }, auditgate_writer: { user: 'auditgate_writer', password: null } },
      catalog_role: 'auditgate_reader',
      ...opts.upstream,
    },
    policy: { reload: 'off', bundle: await alwaysOpenBundle() },
    ...opts.config,
  };
  const file = join(dir, 'auditgate.yaml');
  await writeFile(file, stringify(config));
  const running = await startGateway(await loadConfig(file), { log: silentLogger, ...opts.start });
  return {
    running,
    port: running.address.port,
    dir,
    dev,
    token: (t = {}) =>
      issueDevToken(dev.dir, {
        sub: t.sub ?? 'agent:test',
        groups: t.groups ?? ['agents'],
        kind: t.kind ?? 'agent',
        claims: t.claims ?? { model: 'claude-test', repository: 'acme/shop' },
        ttlSeconds: t.ttlSeconds ?? 600,
      }),
    pgConfig: (password, extra = {}) => ({ host: '127.0.0.1', port: running.address.port, user: 'agent', database: FIXTURE_DB, password, ...extra }),
    async close() {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
