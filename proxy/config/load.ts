// Loads the gateway config file: YAML → CLI overrides → schema (defaults applied) → checks that
// need more than the schema → resolved config (absolute paths, secrets read). Every problem is
// reported with the file, line and key; all problems at once, not the first only.
import { hostname } from 'node:os';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import { parse as parseYamlValue } from 'yaml';
import { DEFAULT_BUNDLE_PATH } from '../../policies/locations.js';
import {
  ASYMMETRIC_ALGORITHMS,
  gatewayConfigSchema,
  validateGatewayConfig,
  type GatewayConfig,
  type JwtAlgorithm,
  type LogLevel,
  type MaskMethod,
  type UpstreamTlsMode,
} from './schema.js';
import {
  describeAjvErrors,
  didYouMean,
  formatKeyPath,
  lineOf,
  parseYaml,
  type KeyPath,
  type ParsedYaml,
} from './yaml-errors.js';

/** Where a secret came from, for logs: `env:NAME`, `file:/abs/path`, or `none`. Never the value. */
export type SecretSource = `env:${string}` | `file:${string}` | 'none';

export interface Credential {
  user: string;
  /** null: connect without a password (`password: null` in the file). */
  password: string | null;
  password_source: SecretSource;
}

/**
 * One trusted issuer, in the shape proxy/identity's IssuerConfig takes. Exactly one of
 * jwks_file (absolute) / jwks_url is set; optional keys are absent when the file does not set them.
 */
export interface ResolvedIssuer {
  issuer: string;
  audience: string[];
  jwks_file?: string;
  jwks_url?: string;
  algorithms: JwtAlgorithm[];
  clock_tolerance_seconds: number;
  max_token_age_seconds?: number;
  jwks_cache_seconds?: number;
  jwks_cooldown_seconds?: number;
  jwks_timeout_seconds?: number;
}

/** The config the gateway runs with: defaults applied, paths absolute, secrets read. */
export interface ResolvedConfig {
  /** Absolute path of the config file. */
  file: string;
  listen: {
    host: string;
    port: number;
    tls: { cert_file: string; key_file: string } | null;
    require_tls: boolean;
    max_message_bytes: number;
    max_connections: number;
    startup_timeout_ms: number;
  };
  identity: {
    issuers: ResolvedIssuer[];
    claims: { subject: string; groups: string; kind: string; default_kind: 'agent' | 'human'; provenance: string[] };
    dev_issuer: boolean;
  };
  policy: {
    bundle: string;
    /** true when `policy.bundle` was not set and the bundled default policy is used. */
    bundle_is_default: boolean;
    memory_pages: { initial: number; maximum: number };
    max_input_bytes: number;
    reload: 'watch' | 'off';
    decision_cache: { enabled: boolean; max_entries: number };
  };
  upstream: {
    name: string;
    environment: string;
    host: string;
    port: number;
    database: string | null;
    /** proxy/upstream's UpstreamTarget['tls']: ca_file (absolute) and servername absent when not set. */
    tls: { mode: UpstreamTlsMode; ca_file?: string; servername?: string };
    channel_binding: 'disable' | 'prefer' | 'require';
    connect_timeout_ms: number;
    roles: Record<string, Credential>;
    catalog_role: string;
  };
  masking: {
    default_method: MaskMethod;
    hash_key: string | null;
    hash_key_source: SecretSource;
    catalog_cache_seconds: number;
  };
  approvals: {
    mode: 'deny' | 'hold' | 'retry';
    /** The control database URL (null in deny mode). Never printed: it may hold a password. */
    store_url: string | null;
    max_wait_seconds: number;
    admin: { enabled: boolean; host: string; port: number; tls: { cert_file: string; key_file: string } | null };
    webhook: { url: string; timeout_ms: number; max_attempts: number } | null;
    access_roles: Record<string, { approvers: string[]; count: number; max_minutes: number; ttl_seconds: number }>;
  };
  recording: {
    dir: string;
    mode: 'strict' | 'batched';
    gateway_id: string;
    signing_key_file: string;
    /** Where the public key is published for verifiers (default: the signing key's name with .pub). */
    public_key_file: string;
    batch_interval_ms: number;
    segment_max_bytes: number;
    segment_max_age_seconds: number;
    max_pending_records: number;
  };
  log: { level: LogLevel; format: 'text' | 'json' };
  /** Things that work but deserve a line in the startup log (dev issuer on, plaintext listener, ...). */
  warnings: string[];
}

export interface ConfigIssue {
  /** Dotted key path (`upstream.roles.reader.password_env`); '' for the file as a whole. */
  path: string;
  /** 1-based line in the file; null when the key is not in the file or was set by an override. */
  line: number | null;
  /** The override (dotted key) that set the value, when the problem is in an overridden value. */
  override: string | null;
  message: string;
}

/** An unusable config. The message has one line per problem: `file:line: key.path: what`. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    super(issues.map((i) => formatIssue(file, i)).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(file: string, i: ConfigIssue): string {
  const where = i.line === null ? file : `${file}:${i.line}`;
  const key = i.path ? `${i.path}${i.override !== null ? ` (set by --${i.override})` : ''}: ` : '';
  return `${where}: ${key}${i.message}`;
}

export interface LoadOptions {
  /** Environment for password_env / hash_key_env (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Reads, validates and resolves a config file. `overrides` are dotted keys from CLI flags
 * (`{"listen.port": "7000"}`), applied before validation; string values are converted to the
 * type the schema expects at that key. Throws ConfigError.
 */
export async function loadConfig(
  path: string,
  overrides: Record<string, unknown> = {},
  options: LoadOptions = {},
): Promise<ResolvedConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [{ path: '', line: null, override: null, message: `cannot read the config file: ${reason(err)}` }]);
  }
  const parsed = parseYaml(text);
  if (parsed.syntaxError) {
    const { line, message } = parsed.syntaxError;
    throw new ConfigError(path, [{ path: '', line, override: null, message }]);
  }

  const issues = new Issues(parsed);
  const value = parsed.value ?? {};
  dropEmptySections(value, gatewayConfigSchema as SchemaNode);
  const overridden = applyOverrides(value, overrides, issues);
  issues.overridden = overridden;
  if (issues.list.length) throw new ConfigError(path, issues.list);

  if (!validateGatewayConfig(value)) {
    for (const d of describeAjvErrors(validateGatewayConfig.errors ?? [], explain)) issues.add(d.path, d.message);
    throw new ConfigError(path, issues.sorted());
  }
  const resolved = await resolveConfig(value, file, issues, options.env ?? process.env);
  if (issues.list.length) throw new ConfigError(path, issues.sorted());
  return resolved;
}

class Issues {
  readonly list: ConfigIssue[] = [];
  overridden: { path: KeyPath; key: string }[] = [];

  constructor(private readonly parsed: ParsedYaml) {}

  add(path: KeyPath, message: string): void {
    const override = this.overridden.find((o) => startsWith(path, o.path));
    this.list.push({
      path: formatKeyPath(path),
      line: override ? null : lineOf(this.parsed.doc, this.parsed.lineCounter, path),
      override: override?.key ?? null,
      message,
    });
  }

  sorted(): ConfigIssue[] {
    return [...this.list].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  }
}

const startsWith = (path: KeyPath, prefix: KeyPath) =>
  prefix.length <= path.length && prefix.every((p, i) => String(p) === String(path[i]));

// ---- messages for this file's own rules ----------------------------------------------------

function explain(e: ErrorObject, path: KeyPath): string | undefined {
  const last = path[path.length - 1];
  if (e.keyword === 'enum' && path.includes('algorithms') && typeof e.data === 'string') {
    const allowed = ASYMMETRIC_ALGORITHMS.join(', ');
    if (/^HS\d+$/i.test(e.data)) {
      return `"${e.data}" is a shared-secret (HMAC) algorithm: whoever can verify such a token can also mint one; only asymmetric algorithms are accepted: ${allowed}`;
    }
    if (e.data.toLowerCase() === 'none') return `"none" (unsigned tokens) is never accepted; use one of ${allowed}`;
    return undefined;
  }
  if (e.keyword === 'type' && last === 'password' && path[path.length - 3] === 'roles') {
    return 'a password is never written in the config file: use password_env (an environment variable) or password_file (a file); `password: null` means no password';
  }
  if (e.keyword === 'pattern' && (last === 'password_env' || last === 'hash_key_env')) {
    return `must be an environment variable name (letters, digits and _, not starting with a digit), got ${JSON.stringify(e.data)}`;
  }
  if (e.keyword === 'pattern' && last === 'jwks_url') {
    return `must be an https:// URL (plain http only to localhost), got ${JSON.stringify(e.data)}`;
  }
  return undefined;
}

// ---- overrides -----------------------------------------------------------------------------

type Json = Record<string, unknown>;
type SchemaNode = {
  type?: string | readonly string[];
  enum?: readonly unknown[];
  properties?: Json;
  required?: readonly string[];
  additionalProperties?: unknown;
  items?: unknown;
};

/** Applies dotted-key overrides in place; returns the paths they set. */
function applyOverrides(root: unknown, overrides: Record<string, unknown>, issues: Issues): { path: KeyPath; key: string }[] {
  const applied: { path: KeyPath; key: string }[] = [];
  if (Object.keys(overrides).length === 0) return applied;
  if (!isObject(root)) {
    issues.add([], 'the file must be a map of keys');
    return applied;
  }
  for (const [key, raw] of Object.entries(overrides)) {
    const parts = key.split('.');
    if (parts.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) {
      issues.add([], `override --${key}: not a key path (expected e.g. listen.port)`);
      continue;
    }
    let node: unknown = root;
    let schema: SchemaNode | undefined = gatewayConfigSchema as SchemaNode;
    const path: KeyPath = [];
    let ok = true;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const isLast = i === parts.length - 1;
      const seg: string | number = Array.isArray(node) && /^\d+$/.test(part) ? Number(part) : part;
      path.push(seg);
      schema = childSchema(schema, seg);
      if (isLast) {
        const value = coerce(raw, schema);
        if (Array.isArray(node) && typeof seg === 'number') node[seg] = value;
        else (node as Json)[part] = value;
        break;
      }
      const container = node as Json;
      let next: unknown = container[seg as string];
      if (next === undefined || next === null) {
        next = {};
        container[seg as string] = next;
      }
      if (typeof next !== 'object') {
        issues.add(path, `override --${key}: ${formatKeyPath(path)} is not a map`);
        ok = false;
        break;
      }
      node = next;
    }
    if (ok) applied.push({ path, key });
  }
  return applied;
}

/**
 * `listen:` with every key under it commented out is null in YAML: treat an empty section like
 * an absent one (defaults apply), rather than as "must be a map (got null)".
 */
function dropEmptySections(value: unknown, schema: SchemaNode | undefined): void {
  if (!isObject(value) || !schema) return;
  for (const [k, v] of Object.entries(value)) {
    const sub = childSchema(schema, k);
    const optionalSection = sub?.type === 'object' && Object.hasOwn(schema.properties ?? {}, k) && !schema.required?.includes(k);
    if (v === null && optionalSection) delete value[k];
    else if (Array.isArray(v)) for (const item of v) dropEmptySections(item, childSchema(sub, 0));
    else dropEmptySections(v, sub);
  }
}

function childSchema(schema: SchemaNode | undefined, seg: string | number): SchemaNode | undefined {
  if (!schema) return undefined;
  if (typeof seg === 'number') return isObject(schema.items) ? (schema.items as SchemaNode) : undefined;
  const prop = schema.properties?.[seg];
  if (isObject(prop)) return prop as SchemaNode;
  return isObject(schema.additionalProperties) ? (schema.additionalProperties as SchemaNode) : undefined;
}

function typesOf(schema: SchemaNode | undefined): Set<string> | null {
  if (!schema) return null;
  if (schema.type !== undefined) return new Set(([] as string[]).concat(schema.type as string | string[]));
  if (schema.enum) return new Set(schema.enum.map((v) => (v === null ? 'null' : typeof v)));
  return null;
}

/** A flag's value (a string from the command line) as the type the schema wants at that key. */
function coerce(raw: unknown, schema: SchemaNode | undefined): unknown {
  const types = typesOf(schema);
  if (!types) return raw;
  if (typeof raw !== 'string') {
    // A CLI parser may already have made "123" a number: give it back as the string the key wants.
    if ((typeof raw === 'number' || typeof raw === 'boolean') && types.has('string') && !types.has(typeof raw)) return String(raw);
    return raw;
  }
  if (types.has('null') && raw === 'null') return null;
  if (types.has('string') && !(types.has('array') && raw.trimStart().startsWith('['))) return raw;
  let value: unknown;
  try {
    value = parseYamlValue(raw);
  } catch {
    return raw;
  }
  // `--identity.issuers.0.algorithms RS256,ES256`
  if (types.has('array') && typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
  return value;
}

// ---- resolution ----------------------------------------------------------------------------

async function resolveConfig(c: GatewayConfig, file: string, issues: Issues, env: NodeJS.ProcessEnv): Promise<ResolvedConfig> {
  const base = dirname(file);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const warnings: string[] = [];

  async function readableFile(path: KeyPath, p: string): Promise<string> {
    const full = abs(p);
    const problem = await unreadable(full);
    if (problem) issues.add(path, `cannot read ${full}: ${problem}`);
    return full;
  }

  async function secret(path: KeyPath, from: { env?: string; file?: string }): Promise<{ value: string | null; source: SecretSource }> {
    if (from.env !== undefined) {
      const v = env[from.env];
      if (v === undefined) issues.add(path, `environment variable ${from.env} is not set`);
      else if (v === '') issues.add(path, `environment variable ${from.env} is empty`);
      return { value: v || null, source: `env:${from.env}` };
    }
    if (from.file !== undefined) {
      const full = abs(from.file);
      try {
        const v = (await readFile(full, 'utf8')).replace(/\r?\n$/, '');
        if (v === '') issues.add(path, `${full} is empty`);
        return { value: v || null, source: `file:${full}` };
      } catch (err) {
        issues.add(path, `cannot read ${full}: ${reason(err)}`);
        return { value: null, source: `file:${full}` };
      }
    }
    return { value: null, source: 'none' };
  }

  // listen
  const { listen } = c;
  let listenTls: ResolvedConfig['listen']['tls'] = null;
  if (listen.tls) {
    listenTls = {
      cert_file: await readableFile(['listen', 'tls', 'cert_file'], listen.tls.cert_file),
      key_file: await readableFile(['listen', 'tls', 'key_file'], listen.tls.key_file),
    };
  } else if (listen.require_tls) {
    issues.add(['listen', 'require_tls'], 'is true but listen.tls is not set: TLS needs listen.tls.cert_file and listen.tls.key_file');
  } else if (!isLoopback(listen.host)) {
    warnings.push(`listening on ${listen.host} without TLS: clients' tokens cross the network in clear text (set listen.tls)`);
  }

  // identity
  const issuers: ResolvedIssuer[] = [];
  const seenIssuers = new Map<string, number>();
  for (const [i, iss] of c.identity.issuers.entries()) {
    const first = seenIssuers.get(iss.issuer);
    if (first !== undefined) issues.add(['identity', 'issuers', i, 'issuer'], `"${iss.issuer}" is already configured (identity.issuers[${first}])`);
    seenIssuers.set(iss.issuer, i);
    const resolvedIssuer: ResolvedIssuer = {
      issuer: iss.issuer,
      audience: ([] as string[]).concat(iss.audience),
      algorithms: [...iss.algorithms],
      clock_tolerance_seconds: iss.clock_tolerance_seconds,
    };
    if (iss.jwks_file !== undefined) {
      resolvedIssuer.jwks_file = await readableFile(['identity', 'issuers', i, 'jwks_file'], iss.jwks_file);
      for (const k of URL_ONLY_KEYS) {
        if (iss[k] !== undefined) issues.add(['identity', 'issuers', i, k], 'applies to jwks_url only (a jwks_file is re-read when it changes)');
      }
    } else {
      resolvedIssuer.jwks_url = iss.jwks_url!;
    }
    for (const k of ['max_token_age_seconds', ...URL_ONLY_KEYS] as const) {
      if (iss[k] !== undefined) resolvedIssuer[k] = iss[k];
    }
    issuers.push(resolvedIssuer);
  }
  for (const [i, claim] of c.identity.claims.provenance.entries()) {
    if (REGISTERED_CLAIMS.includes(claim)) {
      issues.add(['identity', 'claims', 'provenance', i], `"${claim}" is a registered claim: it is checked, never copied to the policy`);
    }
  }
  if (c.identity.issuers.length === 0 && !c.identity.dev_issuer) {
    issues.add(['identity', 'issuers'], 'must list at least one issuer (or set identity.dev_issuer: true for local development)');
  }
  if (c.identity.dev_issuer) {
    warnings.push('identity.dev_issuer is on: tokens from the local development issuer (`auditgate token`) are trusted; never in production');
  }

  // policy
  const { policy } = c;
  const bundle = policy.bundle !== undefined ? await readableFile(['policy', 'bundle'], policy.bundle) : DEFAULT_BUNDLE_PATH;
  if (policy.memory_pages.initial > policy.memory_pages.maximum) {
    issues.add(['policy', 'memory_pages', 'initial'], `must not exceed policy.memory_pages.maximum (${policy.memory_pages.initial} > ${policy.memory_pages.maximum})`);
  }

  // upstream
  const { upstream } = c;
  const roles: Record<string, Credential> = {};
  for (const [name, role] of Object.entries(upstream.roles)) {
    const s = await secret(['upstream', 'roles', name, role.password_env !== undefined ? 'password_env' : 'password_file'], {
      env: role.password_env,
      file: role.password_file,
    });
    roles[name] = { user: role.user, password: s.value, password_source: s.source };
  }
  if (!Object.hasOwn(upstream.roles, upstream.catalog_role)) {
    const names = Object.keys(upstream.roles);
    const guess = didYouMean(upstream.catalog_role, names);
    issues.add(
      ['upstream', 'catalog_role'],
      `"${upstream.catalog_role}" is not one of upstream.roles (${names.join(', ')})${guess ? ` — did you mean "${guess}"?` : ''}`,
    );
  }
  const caFile = upstream.tls.ca_file !== undefined ? await readableFile(['upstream', 'tls', 'ca_file'], upstream.tls.ca_file) : null;
  if ((upstream.tls.mode === 'disable' || upstream.tls.mode === 'prefer') && !isLoopback(upstream.host)) {
    warnings.push(
      `upstream.tls.mode is ${upstream.tls.mode}: the connection to ${upstream.host} is not verified (use verify-full)`,
    );
  }

  // approvals: the control database URL may carry a password, so it may come from env or a file
  const store = c.approvals.store;
  let storeUrl: string | null = store?.url ?? null;
  if (store && store.url === undefined) {
    storeUrl = (await secret(['approvals', 'store', store.url_env !== undefined ? 'url_env' : 'url_file'], { env: store.url_env, file: store.url_file })).value;
  }

  // masking
  const { masking } = c;
  const hashKeyPath: KeyPath = ['masking', masking.hash_key_env !== undefined ? 'hash_key_env' : 'hash_key_file'];
  const hashKey = await secret(hashKeyPath, { env: masking.hash_key_env, file: masking.hash_key_file });
  if (masking.default_method === 'hash' && hashKey.source === 'none') {
    issues.add(['masking', 'default_method'], 'is hash, which needs a key: set masking.hash_key_env or masking.hash_key_file');
  }

  return {
    file,
    listen: {
      host: listen.host,
      port: listen.port,
      tls: listenTls,
      require_tls: listen.require_tls,
      max_message_bytes: listen.max_message_bytes,
      max_connections: listen.max_connections,
      startup_timeout_ms: listen.startup_timeout_ms,
    },
    identity: {
      issuers,
      claims: { ...c.identity.claims, provenance: [...c.identity.claims.provenance] },
      dev_issuer: c.identity.dev_issuer,
    },
    policy: {
      bundle,
      bundle_is_default: policy.bundle === undefined,
      memory_pages: { ...policy.memory_pages },
      max_input_bytes: policy.max_input_bytes,
      reload: policy.reload,
      decision_cache: { ...policy.decision_cache },
    },
    upstream: {
      name: upstream.name,
      environment: upstream.environment,
      host: upstream.host,
      port: upstream.port,
      database: upstream.database,
      tls: {
        mode: upstream.tls.mode,
        ...(caFile !== null ? { ca_file: caFile } : {}),
        ...(upstream.tls.servername !== undefined ? { servername: upstream.tls.servername } : {}),
      },
      channel_binding: upstream.channel_binding,
      connect_timeout_ms: upstream.connect_timeout_ms,
      roles,
      catalog_role: upstream.catalog_role,
    },
    masking: {
      default_method: masking.default_method,
      hash_key: hashKey.value,
      hash_key_source: hashKey.source,
      catalog_cache_seconds: masking.catalog_cache_seconds,
    },
    approvals: {
      mode: c.approvals.mode,
      store_url: storeUrl,
      max_wait_seconds: c.approvals.max_wait_seconds,
      admin: {
        enabled: c.approvals.admin.enabled,
        host: c.approvals.admin.host,
        port: c.approvals.admin.port,
        tls: c.approvals.admin.tls ? { cert_file: abs(c.approvals.admin.tls.cert_file), key_file: abs(c.approvals.admin.tls.key_file) } : null,
      },
      webhook: c.approvals.webhook ? { url: c.approvals.webhook.url, timeout_ms: c.approvals.webhook.timeout_ms, max_attempts: c.approvals.webhook.max_attempts } : null,
      access_roles: c.approvals.access_roles,
    },
    recording: {
      dir: abs(c.recording.dir),
      mode: c.recording.mode,
      gateway_id: c.recording.gateway_id ?? defaultGatewayId(),
      signing_key_file: abs(c.recording.signing_key_file),
      public_key_file: abs(c.recording.public_key_file ?? publicKeyPathFor(c.recording.signing_key_file)),
      batch_interval_ms: c.recording.batch_interval_ms,
      segment_max_bytes: c.recording.segment_max_bytes,
      segment_max_age_seconds: c.recording.segment_max_age_seconds,
      max_pending_records: c.recording.max_pending_records,
    },
    log: { level: c.log.level, format: c.log.format },
    warnings,
  };
}

const URL_ONLY_KEYS = ['jwks_cache_seconds', 'jwks_cooldown_seconds', 'jwks_timeout_seconds'] as const;
/** JWT registered claims: verified by the gateway, never passed to the policy as provenance. */
const REGISTERED_CLAIMS = ['iss', 'aud', 'exp', 'nbf', 'iat', 'jti'];

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
}

/** Why a file cannot be read, or null when it can. */
async function unreadable(path: string): Promise<string | null> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return s.isDirectory() ? 'is a directory' : 'not a regular file';
    await access(path, constants.R_OK);
    return null;
  } catch (err) {
    return reason(err);
  }
}

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent of it is not a directory';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---- summary for the startup log -----------------------------------------------------------

/** The resolved config with every secret replaced by where it came from: safe to log as JSON. */
export function configSummary(r: ResolvedConfig): Record<string, unknown> {
  return {
    file: r.file,
    listen: { ...r.listen },
    identity: {
      issuers: r.identity.issuers.map((i) => ({ ...i })),
      claims: r.identity.claims,
      dev_issuer: r.identity.dev_issuer,
    },
    policy: { ...r.policy },
    upstream: {
      ...r.upstream,
      roles: Object.fromEntries(Object.entries(r.upstream.roles).map(([n, cr]) => [n, { user: cr.user, password: cr.password_source }])),
    },
    masking: {
      default_method: r.masking.default_method,
      hash_key: r.masking.hash_key_source,
      catalog_cache_seconds: r.masking.catalog_cache_seconds,
    },
    approvals: { ...r.approvals, store_url: r.approvals.store_url === null ? null : redactUrl(r.approvals.store_url) },
    recording: r.recording,
    log: r.log,
  };
}

/** A few lines for the text startup log. No secret values: secrets appear as their source. */
export function describeConfig(r: ResolvedConfig): string {
  const { listen, identity, policy, upstream, masking } = r;
  const tls = listen.tls ? `tls${listen.require_tls ? ' required' : ' optional'}` : 'no tls';
  const roles = Object.entries(upstream.roles)
    .map(([name, cr]) => `${name}=${cr.user} (password: ${cr.password_source})`)
    .join(', ');
  const lines = [
    `config ${r.file}`,
    `listen ${listen.host}:${listen.port}, ${tls}, max ${listen.max_connections} connections, max message ${listen.max_message_bytes} bytes, startup timeout ${listen.startup_timeout_ms} ms`,
    ...identity.issuers.map(
      (i) =>
        `issuer ${i.issuer} audience ${i.audience.join(',')} jwks ${i.jwks_file ?? i.jwks_url} algorithms ${i.algorithms.join(',')}`,
    ),
    `identity claims subject=${identity.claims.subject} groups=${identity.claims.groups} kind=${identity.claims.kind} (default ${identity.claims.default_kind})${identity.dev_issuer ? ', dev issuer ON' : ''}`,
    `policy ${policy.bundle}${policy.bundle_is_default ? ' (default)' : ''}, reload ${policy.reload}, memory ${policy.memory_pages.initial}..${policy.memory_pages.maximum} pages, decision cache ${policy.decision_cache.enabled ? policy.decision_cache.max_entries : 'off'}`,
    `upstream ${upstream.name} (${upstream.environment}) ${upstream.host}:${upstream.port} database ${upstream.database ?? '(client-chosen)'} tls ${upstream.tls.mode}${upstream.tls.ca_file ? ` ca ${upstream.tls.ca_file}` : ''}, channel binding ${upstream.channel_binding}`,
    `upstream roles ${roles}; catalog role ${upstream.catalog_role}`,
    `masking default ${masking.default_method}, hash key ${masking.hash_key_source}, catalog cache ${masking.catalog_cache_seconds}s`,
    `approvals ${r.approvals.mode}${r.approvals.store_url ? ` (store ${redactUrl(r.approvals.store_url)}, admin ${r.approvals.admin.enabled ? `${r.approvals.admin.host}:${r.approvals.admin.port}` : 'off'})` : ''}; recording ${r.recording.mode} to ${r.recording.dir}; log ${r.log.level} ${r.log.format}`,
  ];
  return lines.join('\n');
}

/** The host name, made safe for segment file names. */
function defaultGatewayId(): string {
  const id = hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64);
  return id || 'gateway';
}

export const publicKeyPathFor = (signingKeyFile: string): string => signingKeyFile.replace(/(\.pem)?$/, '.pub.pem');

/** A connection URL without its password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
