// Assembles a running gateway from a resolved config: policy engine (with bundle reload),
// identity verifier, TLS, upstream connector, listener. `auditgate proxy` and the integration
// tests both start the gateway through here.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import pg from 'pg';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { PolicyEngine } from '../policies/engine/engine.js';
import { loadAnalyzer } from './analysis/index.js';
import type { ResolvedConfig } from './config/load.js';
import { IdentityVerifier, defaultDevIssuerDir, ensureDevIssuer } from './identity/index.js';
import { devIssuerConfig } from './identity/dev-issuer.js';
import type { IssuerConfig } from './identity/config.js';
import { CatalogResolver } from './masking/catalog.js';
import { maskingFilterFactory } from './masking/session-filter.js';
import { DecisionCache } from './session/decision-cache.js';
import { Gateway, type GatewayOptions } from './session/gateway.js';
import type { Verdict } from './session/statement-gate.js';
import { createLogger, type Logger } from './session/logger.js';
import { Recorder } from './recorder/recorder.js';
import { openSigningKey } from './recorder/signing-key-file.js';
import type { UpstreamPort } from './session/startup.js';
import { cancelUpstream, connectUpstream, type UpstreamTarget } from './upstream/index.js';

export interface RunningGateway {
  address: AddressInfo;
  engine: PolicyEngine;
  recorder: Recorder;
  gateway: Gateway;
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Where the development issuer lives when identity.dev_issuer is on (default ~/.auditgate/dev-issuer). */
  devIssuerDir?: string;
  /** Extra hooks (recording) for the relay. */
  hooks?: Pick<GatewayOptions, 'onVerdict'>;
}

export async function startGateway(config: ResolvedConfig, opts: StartOptions = {}): Promise<RunningGateway> {
  const log = opts.log ?? createLogger({ level: config.log.level, format: config.log.format });
  for (const w of config.warnings) log.warn(w);

  await loadAnalyzer();
  const engine = await PolicyEngine.fromFile(config.policy.bundle, {
    memory: config.policy.memory_pages,
    maxInputBytes: config.policy.max_input_bytes,
  });
  log.info('policy bundle loaded', { bundle: config.policy.bundle, sha256: engine.bundleSha256 });

  // The record comes first: a gateway that cannot record does not start.
  const rc = config.recording;
  const key = await openSigningKey(rc.signing_key_file, rc.public_key_file, log);
  const recorder = await Recorder.open({
    directory: rc.dir,
    gatewayId: rc.gateway_id,
    key,
    durability: rc.mode,
    batchIntervalMs: rc.batch_interval_ms,
    segmentMaxBytes: rc.segment_max_bytes,
    segmentMaxAgeMs: rc.segment_max_age_seconds * 1000,
    maxPendingRecords: rc.max_pending_records,
    log,
  });
  log.info('recording', { dir: rc.dir, gateway_id: rc.gateway_id, mode: rc.mode, public_key: rc.public_key_file, next_seq: recorder.chainHead.seq + 1 });
  const recordBundle = () =>
    recorder
      .append({ kind: 'bundle_loaded', bundle_sha256: engine.bundleSha256, detail: JSON.stringify({ source: engine.bundleSource, manifest: engine.manifest }) })
      .catch((err: Error) => log.error('audit record lost', { kind: 'bundle_loaded', error: err.message }));
  await recordBundle();

  const issuers: IssuerConfig[] = config.identity.issuers.map((i) => ({ ...i }));
  if (config.identity.dev_issuer) {
    const dev = await ensureDevIssuer(opts.devIssuerDir ?? defaultDevIssuerDir());
    issuers.push(devIssuerConfig(dev));
    log.warn('the development issuer is trusted (identity.dev_issuer): never in production', { issuer: dev.issuer });
  }
  const verifier = new IdentityVerifier({ issuers, claims: config.identity.claims });

  const tls = config.listen.tls
    ? createSecureContext({ cert: await readFile(config.listen.tls.cert_file), key: await readFile(config.listen.tls.key_file) })
    : null;

  const target = (database: string): UpstreamTarget => ({
    host: config.upstream.host,
    port: config.upstream.port,
    database: config.upstream.database ?? database,
    tls: config.upstream.tls,
    connect_timeout_ms: config.upstream.connect_timeout_ms,
    channel_binding: config.upstream.channel_binding,
  });
  const upstream: UpstreamPort = {
    hasCredential: (role) => Object.prototype.hasOwnProperty.call(config.upstream.roles, role),
    connect: (role, database, parameters) => connectUpstream(target(database), config.upstream.roles[role]!, parameters),
  };

  // Masking: catalog lookups per upstream database, as the catalog role, cached by the resolver.
  const pools = new Map<string, pg.Pool>();
  const resolvers = new Map<string, CatalogResolver>();
  const catalogRole = config.upstream.roles[config.upstream.catalog_role]!;
  const resolverFor = (database: string): CatalogResolver => {
    const db = config.upstream.database ?? database;
    let r = resolvers.get(db);
    if (!r) {
      const pool = new pg.Pool({
        host: config.upstream.host,
        port: config.upstream.port,
        database: db,
        user: catalogRole.user,
        password: catalogRole.password ?? undefined,
        ssl: config.upstream.tls.mode === 'disable' ? false : config.upstream.tls.mode === 'verify-full' ? { ca: config.upstream.tls.ca_file ? readFileSync(config.upstream.tls.ca_file) : undefined, servername: config.upstream.tls.servername } : { rejectUnauthorized: false },
        max: 2,
        application_name: 'auditgate-catalog',
      });
      pool.on('error', (err) => log.warn('catalog connection error', { database: db, error: err.message }));
      pools.set(db, pool);
      r = new CatalogResolver(pool, { ttlMs: config.masking.catalog_cache_seconds * 1000 });
      resolvers.set(db, r);
    }
    return r;
  };
  const masking = {
    resolverFor,
    hashKey: config.masking.hash_key,
    defaultMethod: config.masking.default_method,
    policyData: () => engine.data,
  };
  const decisionCache = config.policy.decision_cache.enabled ? new DecisionCache<Verdict>(config.policy.decision_cache.max_entries) : undefined;

  const gateway = new Gateway({
    host: config.listen.host,
    port: config.listen.port,
    maxConnections: config.listen.max_connections,
    maxMessageBytes: config.listen.max_message_bytes,
    startupTimeoutMs: config.listen.startup_timeout_ms,
    requireTls: config.listen.require_tls,
    tls,
    engine,
    verifyToken: (token) => verifier.verify(token),
    upstream,
    target: config.upstream.name,
    environment: config.upstream.environment,
    database: config.upstream.database,
    cancelUpstream: (key) => cancelUpstream(target(config.upstream.database ?? 'postgres'), key),
    log,
    resultFilterFor: (session) => maskingFilterFactory(masking, session.database),
    decisionCache,
    recorder,
    onDdl: () => {
      for (const r of resolvers.values()) r.invalidate();
    },
    ...opts.hooks,
  });
  const address = await gateway.listen();
  log.info('gateway listening', { host: address.address, port: address.port, tls: Boolean(tls), upstream: `${config.upstream.host}:${config.upstream.port}` });

  const bundlePath = config.policy.bundle;
  const onBundleChange = () => {
    engine.reload(bundlePath).then(
      (changed) => {
        if (!changed) return;
        log.info('policy bundle reloaded', { sha256: engine.bundleSha256 });
        void recordBundle();
      },
      (err: Error) => log.error('policy bundle reload failed; keeping the running bundle', { error: err.message }),
    );
  };
  if (config.policy.reload === 'watch') watchFile(bundlePath, { interval: 2000 }, onBundleChange);

  return {
    address,
    engine,
    gateway,
    recorder,
    async close() {
      unwatchFile(bundlePath, onBundleChange);
      await gateway.close();
      await recorder.close();
      await Promise.all([...pools.values()].map((p) => p.end()));
    },
  };
}
