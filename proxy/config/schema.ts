// The gateway configuration file (auditgate.yaml): its JSON schema, validated with ajv, and
// the TypeScript type of a validated file (defaults applied). docs/configuration.md documents
// every key; auditgate.example.yaml sets every key. Objects are closed
// (`additionalProperties: false`) so a misspelt key is an error, never silently ignored.
import { Ajv } from 'ajv';

/** JWT algorithms the gateway accepts: asymmetric only. HS* (shared secret) and `none` are refused. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export type JwtAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

export const MASK_METHODS = ['redact', 'partial', 'email', 'hash', 'null'] as const;
export type MaskMethod = (typeof MASK_METHODS)[number];

export const UPSTREAM_TLS_MODES = ['disable', 'prefer', 'require', 'verify-full'] as const;
export type UpstreamTlsMode = (typeof UPSTREAM_TLS_MODES)[number];

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A validated config file, defaults applied. Paths are as written (see ResolvedConfig for absolute ones). */
export interface GatewayConfig {
  listen: {
    host: string;
    port: number;
    tls?: { cert_file: string; key_file: string };
    require_tls: boolean;
    max_message_bytes: number;
    max_connections: number;
    startup_timeout_ms: number;
  };
  identity: {
    issuers: IssuerConfig[];
    claims: {
      subject: string;
      groups: string;
      kind: string;
      default_kind: 'agent' | 'human';
      provenance: string[];
    };
    dev_issuer: boolean;
  };
  policy: {
    bundle?: string;
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
    tls: { mode: UpstreamTlsMode; ca_file?: string; servername?: string };
    channel_binding: 'disable' | 'prefer' | 'require';
    connect_timeout_ms: number;
    roles: Record<string, RoleConfig>;
    catalog_role: string;
  };
  masking: {
    default_method: MaskMethod;
    hash_key_env?: string;
    hash_key_file?: string;
    catalog_cache_seconds: number;
  };
  approvals: {
    mode: 'deny' | 'hold' | 'retry';
    store?: { url?: string; url_env?: string; url_file?: string };
    max_wait_seconds: number;
    admin: { enabled: boolean; host: string; port: number; tls?: { cert_file: string; key_file: string } };
    webhook?: { url: string; timeout_ms: number; max_attempts: number };
    access_roles: Record<string, { approvers: string[]; count: number; max_minutes: number; ttl_seconds: number }>;
  };
  recording: {
    dir: string;
    mode: 'strict' | 'batched';
    gateway_id?: string;
    signing_key_file: string;
    public_key_file?: string;
    batch_interval_ms: number;
    segment_max_bytes: number;
    segment_max_age_seconds: number;
    max_pending_records: number;
  };
  log: { level: LogLevel; format: 'text' | 'json' };
}

export interface IssuerConfig {
  issuer: string;
  audience: string | string[];
  jwks_file?: string;
  jwks_url?: string;
  algorithms: JwtAlgorithm[];
  clock_tolerance_seconds: number;
  max_token_age_seconds?: number;
  jwks_cache_seconds?: number;
  jwks_cooldown_seconds?: number;
  jwks_timeout_seconds?: number;
}

/** Exactly one of the three: an environment variable, a file, or `password: null` (no password). */
export interface RoleConfig {
  user: string;
  password_env?: string;
  password_file?: string;
  password?: null;
}

const str = { type: 'string', minLength: 1 } as const;
const positiveInt = { type: 'integer', minimum: 1 } as const;
const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const envName = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } as const;
const exactlyOne = (...keys: string[]) => ({ oneOf: keys.map((k) => ({ required: [k] })) });

const listen = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    host: { ...str, default: '127.0.0.1' },
    // 0: any free port (the address is logged at startup; tests use it).
    port: { ...port, minimum: 0, default: 6432 },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['cert_file', 'key_file'],
      properties: { cert_file: str, key_file: str },
    },
    require_tls: { type: 'boolean', default: false },
    max_message_bytes: { ...positiveInt, minimum: 1024, maximum: 1024 * 1024 * 1024, default: 64 * 1024 * 1024 },
    max_connections: { ...positiveInt, default: 1000 },
    startup_timeout_ms: { ...positiveInt, default: 15_000 },
  },
} as const;

const issuer = {
  type: 'object',
  additionalProperties: false,
  required: ['issuer', 'audience'],
  properties: {
    issuer: str,
    audience: { type: ['string', 'array'], minLength: 1, minItems: 1, items: str },
    jwks_file: str,
    // https, or plain http to this machine only (a JWKS fetched over the network in clear
    // text lets anyone on the path mint tokens).
    jwks_url: { type: 'string', pattern: '^(https://.+|http://(localhost|127\\.0\\.0\\.1|\\[::1\\])([:/].*)?)$' },
    algorithms: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { enum: [...ASYMMETRIC_ALGORITHMS] },
      default: ['RS256', 'ES256', 'EdDSA'],
    },
    clock_tolerance_seconds: { type: 'integer', minimum: 0, maximum: 300, default: 30 },
    max_token_age_seconds: positiveInt,
    // jwks_url only (proxy/identity's defaults: 600, 30, 5).
    jwks_cache_seconds: { type: 'integer', minimum: 0 },
    jwks_cooldown_seconds: { type: 'integer', minimum: 0 },
    jwks_timeout_seconds: positiveInt,
  },
  ...exactlyOne('jwks_file', 'jwks_url'),
} as const;

const identity = {
  type: 'object',
  additionalProperties: false,
  required: ['issuers'],
  properties: {
    // May be empty only with dev_issuer on (load.ts checks): someone must be trusted.
    issuers: { type: 'array', default: [], items: issuer },
    claims: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        subject: { ...str, default: 'sub' },
        groups: { ...str, default: 'groups' },
        kind: { ...str, default: 'auditgate_kind' },
        default_kind: { enum: ['agent', 'human'], default: 'agent' },
        provenance: {
          type: 'array',
          uniqueItems: true,
          items: str,
          default: ['model', 'repository', 'ticket', 'agent', 'session'],
        },
      },
    },
    dev_issuer: { type: 'boolean', default: false },
  },
} as const;

const policy = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    bundle: str,
    memory_pages: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // wasm pages are 64 KiB; 65536 pages is the 4 GiB limit of wasm32.
        initial: { type: 'integer', minimum: 1, maximum: 65536, default: 8 },
        maximum: { type: 'integer', minimum: 1, maximum: 65536, default: 512 },
      },
    },
    max_input_bytes: { ...positiveInt, default: 1024 * 1024 },
    reload: { enum: ['watch', 'off'], default: 'watch' },
    decision_cache: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        max_entries: { ...positiveInt, default: 10_000 },
      },
    },
  },
} as const;

const role = {
  type: 'object',
  additionalProperties: false,
  required: ['user'],
  properties: {
    user: str,
    password_env: envName,
    password_file: str,
    // Only null (no password: trust or certificate auth upstream). A password never goes in the file.
    password: { type: 'null' },
  },
  ...exactlyOne('password_env', 'password_file', 'password'),
} as const;

const upstream = {
  type: 'object',
  additionalProperties: false,
  required: ['roles', 'catalog_role'],
  properties: {
    name: { ...str, default: 'default' },
    environment: { ...str, default: 'production' },
    host: { ...str, default: '127.0.0.1' },
    port: { ...port, default: 5432 },
    database: { type: ['string', 'null'], minLength: 1, default: null },
    tls: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        mode: { enum: [...UPSTREAM_TLS_MODES], default: 'prefer' },
        ca_file: str,
        servername: str,
      },
    },
    // SCRAM channel binding (SCRAM-SHA-256-PLUS over TLS), like libpq's channel_binding.
    channel_binding: { enum: ['disable', 'prefer', 'require'], default: 'prefer' },
    connect_timeout_ms: { ...positiveInt, default: 10_000 },
    roles: { type: 'object', minProperties: 1, additionalProperties: role },
    catalog_role: str,
  },
} as const;

const masking = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    default_method: { enum: [...MASK_METHODS], default: 'redact' },
    hash_key_env: envName,
    hash_key_file: str,
    catalog_cache_seconds: { type: 'integer', minimum: 0, default: 300 },
  },
  not: { required: ['hash_key_env', 'hash_key_file'] },
} as const;

export const gatewayConfigSchema = {
  $id: 'https://auditgate.dev/schemas/gateway-config.json',
  type: 'object',
  additionalProperties: false,
  required: ['identity', 'upstream'],
  properties: {
    listen,
    identity,
    policy,
    upstream,
    masking,
    approvals: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // deny: a statement that needs approval is refused; hold: the session waits for the
        // decision; retry: refused at once naming the request, released when retried after approval.
        mode: { enum: ['deny', 'hold', 'retry'], default: 'deny' },
        // The control database every gateway instance shares (pending requests, grants).
        store: {
          type: 'object',
          additionalProperties: false,
          properties: { url: str, url_env: envName, url_file: str },
          oneOf: [{ required: ['url'] }, { required: ['url_env'] }, { required: ['url_file'] }],
        },
        max_wait_seconds: { ...positiveInt, default: 900 },
        admin: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            enabled: { type: 'boolean', default: true },
            host: { ...str, default: '127.0.0.1' },
            port: { ...port, minimum: 0, default: 6480 },
            tls: {
              type: 'object',
              additionalProperties: false,
              required: ['cert_file', 'key_file'],
              properties: { cert_file: str, key_file: str },
            },
          },
        },
        webhook: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          properties: {
            url: { type: 'string', pattern: '^https?://' },
            timeout_ms: { ...positiveInt, default: 5000 },
            max_attempts: { ...positiveInt, default: 5 },
          },
        },
        // Roles an identity may request for a while (auditgate access request).
        access_roles: {
          type: 'object',
          default: {},
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['approvers'],
            properties: {
              approvers: { type: 'array', minItems: 1, items: str },
              count: { ...positiveInt, default: 1 },
              max_minutes: { ...positiveInt, default: 480 },
              ttl_seconds: { ...positiveInt, default: 3600 },
            },
          },
        },
      },
      if: { properties: { mode: { enum: ['hold', 'retry'] } }, required: ['mode'] },
      then: { required: ['store'] },
    },
    recording: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        dir: { ...str, default: './segments' },
        mode: { enum: ['strict', 'batched'], default: 'strict' },
        // Names this gateway's chain; stable across restarts (default: the host name).
        gateway_id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
        signing_key_file: { ...str, default: './keys/segment-signing.pem' },
        public_key_file: str,
        batch_interval_ms: { ...positiveInt, default: 50 },
        segment_max_bytes: { type: 'integer', minimum: 4096, default: 64 * 1024 * 1024 },
        segment_max_age_seconds: { ...positiveInt, default: 3600 },
        max_pending_records: { ...positiveInt, default: 100_000 },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: [...LOG_LEVELS], default: 'info' },
        format: { enum: ['text', 'json'], default: 'text' },
      },
    },
  },
} as const;

// verbose: errors carry their schema and data, which the error messages use ("did you mean").
// strictRequired is off only because "exactly one of" branches (`oneOf: [{required: [a]}, ..]`)
// name keys that their parent schema defines.
const ajv = new Ajv({
  allErrors: true,
  strict: true,
  strictRequired: false,
  allowUnionTypes: true,
  useDefaults: true,
  verbose: true,
});
/** Validates in place: fills in defaults (mutates its argument). */
export const validateGatewayConfig = ajv.compile<GatewayConfig>(gatewayConfigSchema);
