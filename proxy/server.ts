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
import { classificationOf, maskingFilterFactory } from './masking/session-filter.js';
import { DecisionCache } from './session/decision-cache.js';
import { Gateway, type GatewayOptions } from './session/gateway.js';
import type { Verdict } from './session/statement-gate.js';
import { createLogger, type Logger } from './session/logger.js';
import { Recorder } from './recorder/recorder.js';
import { openSigningKey } from './recorder/signing-key-file.js';
import { createApprovalService } from './approvals/service.js';
import type { ApprovalEvent, ApprovalService } from './approvals/types.js';
import { createWebhookNotifier, type WebhookNotifier } from './approvals/webhook.js';
import { startAdminServer, type AdminServer } from './admin/server.js';
import { gatewayBuild } from './build-digest.js';
import type { UpstreamPort } from './session/startup.js';
import { cancelUpstream, connectUpstream, type UpstreamTarget } from './upstream/index.js';

export interface RunningGateway {
  address: AddressInfo;
  engine: PolicyEngine;
  recorder: Recorder;
  /** The approval service and admin listener (null unless approvals.mode is hold or retry). */
  approvals: ApprovalService | null;
  admin: AdminServer | null;
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
      .append({
        kind: 'bundle_loaded',
        bundle_sha256: engine.bundleSha256,
        detail: JSON.stringify({
          source: engine.bundleSource,
          manifest: engine.manifest,
          gateway: gatewayBuild(),
          // What this bundle classifies as sensitive, so the evidence attests what masking covered.
          classification: [...classificationOf(engine.data)].map(([column, method]) => ({ column, method })),
        }),
      })
      .catch((err: Error) => log.error('audit record lost', { kind: 'bundle_loaded', error: err.message }));
  await recordBundle();

  const issuers: IssuerConfig[] = config.identity.issuers.map((i) => ({ ...i }));
  if (config.identity.dev_issuer) {
    const dev = await ensureDevIssuer(opts.devIssuerDir ?? defaultDevIssuerDir());
    issuers.push(devIssuerConfig(dev));
    log.warn('the development issuer is trusted (identity.dev_issuer): never in production', { issuer: dev.issuer });
  }
  const verifier = new IdentityVerifier({ issuers, claims: config.identity.claims });

  // Approvals: the shared control database, the admin listener approvers use, the webhook.
  const ac = config.approvals;
  let approvals: ApprovalService | null = null;
  let admin: AdminServer | null = null;
  let webhook: WebhookNotifier | null = null;
  if (ac.mode !== 'deny' && ac.store_url) {
    approvals = await createApprovalService({ url: ac.store_url, gatewayId: rc.gateway_id, log });
    const service = approvals;
    if (ac.webhook) webhook = createWebhookNotifier({ url: ac.webhook.url, timeoutMs: ac.webhook.timeout_ms, maxAttempts: ac.webhook.max_attempts, log });
    service.onEvent((e) => {
      webhook?.notify(e);
      recorder.append(approvalRecord(e), false).catch((err: Error) => log.error('audit record lost', { kind: 'approval', error: err.message }));
    });
    if (ac.admin.enabled) {
      admin = await startAdminServer({
        host: ac.admin.host,
        port: ac.admin.port,
        tls: ac.admin.tls ? { cert: await readFile(ac.admin.tls.cert_file), key: await readFile(ac.admin.tls.key_file) } : undefined,
        service,
        controlDatabaseUrl: ac.store_url,
        gatewayId: rc.gateway_id,
        verifyToken: (token) => verifier.verify(token),
        accessPolicy: (role) => {
          const r = ac.access_roles[role];
          return r ? { approver_groups: r.approvers, required_approvals: r.count, ttl_seconds: r.ttl_seconds, max_minutes: r.max_minutes } : null;
        },
        requestableRoles: Object.keys(ac.access_roles),
        log,
      });
      log.info('approvals admin listening', { url: admin.url, mode: ac.mode });
    }
  }

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
    activeGrants: approvals ? async (subject) => (await approvals!.activeGrants(subject)).map((g) => ({ request_id: g.request_id, role: g.role, until: new Date(g.until).toISOString() })) : undefined,
    upstream,
    target: config.upstream.name,
    environment: config.upstream.environment,
    database: config.upstream.database,
    cancelUpstream: (key) => cancelUpstream(target(config.upstream.database ?? 'postgres'), key),
    log,
    resultFilterFor: (session) => maskingFilterFactory(masking, session.database),
    decisionCache,
    recorder,
    approvals: approvals && ac.mode !== 'deny' ? { service: approvals, mode: ac.mode, gatewayId: rc.gateway_id, maxWaitSeconds: ac.max_wait_seconds } : undefined,
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
    approvals,
    admin,
    async close() {
      unwatchFile(bundlePath, onBundleChange);
      await admin?.close();
      await gateway.close();
      await webhook?.close();
      await approvals?.close();
      await recorder.close();
      await Promise.all([...pools.values()].map((p) => p.end()));
    },
  };
}

/** An approval event as a record: who did what to which request (never the bound values). */
function approvalRecord(e: ApprovalEvent): Parameters<Recorder['append']>[0] {
  const r = e.request;
  const decision = 'decision' in e ? e.decision : null;
  return {
    kind: 'approval',
    approval_id: r.id,
    session_id: r.type === 'statement' ? r.session_id : null,
    subject: r.requester.subject,
    issuer: r.requester.issuer,
    identity_kind: r.requester.kind,
    groups: JSON.stringify(r.requester.groups),
    claims: JSON.stringify(r.requester.claims),
    database: r.type === 'statement' ? r.database : null,
    upstream_role: r.type === 'statement' ? r.upstream_role : r.role,
    sql: r.type === 'statement' ? r.sql : null,
    decision: e.event,
    reasons: JSON.stringify([r.reason]),
    detail: JSON.stringify({
      event: e.event,
      type: r.type,
      status: r.status,
      by: decision?.approver.subject ?? null,
      by_groups: decision?.approver.groups ?? null,
      comment: decision?.comment ?? null,
      approvers: r.approver_groups,
      required_approvals: r.required_approvals,
      reason: r.reason,
      ttl_seconds: Math.round((Date.parse(r.expires_at) - Date.parse(r.created_at)) / 1000),
      expires_at: r.expires_at,
      statement_hash: r.type === 'statement' ? r.statement_hash : null,
      role: r.type === 'access' ? r.role : null,
      minutes: r.type === 'access' ? r.minutes : null,
      granted_until: r.type === 'access' ? r.granted_until : null,
      released_by_gateway: r.type === 'statement' ? r.released_by_gateway : null,
    }),
  };
}
