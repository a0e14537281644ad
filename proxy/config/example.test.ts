// auditgate.example.yaml loads, and it and docs/configuration.md cover every key of the schema.
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PACKAGE_ROOT } from '../../policies/locations.js';
import { describeConfig, loadConfig } from './load.js';
import { gatewayConfigSchema } from './schema.js';

const EXAMPLE = join(PACKAGE_ROOT, 'auditgate.example.yaml');
const DOCS = join(PACKAGE_ROOT, 'docs', 'configuration.md');

type Node = { properties?: Record<string, Node>; additionalProperties?: unknown; items?: unknown };

/** Every key the schema knows: `listen.tls.cert_file`, `identity.issuers[].jwks_url`, `upstream.roles.<name>.user`. */
function schemaKeys(schema: Node, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, sub] of Object.entries(schema.properties ?? {})) {
    const p = prefix ? `${prefix}.${k}` : k;
    out.push(p, ...schemaKeys(sub, p));
  }
  if (typeof schema.additionalProperties === 'object' && schema.additionalProperties) {
    out.push(...schemaKeys(schema.additionalProperties as Node, `${prefix}.<name>`));
  }
  if (typeof schema.items === 'object' && schema.items) out.push(...schemaKeys(schema.items as Node, `${prefix}[]`));
  return out;
}

/** The keys set in a YAML value, in the same notation. */
function valueKeys(value: unknown, schema: Node, prefix = ''): Set<string> {
  const out = new Set<string>();
  if (Array.isArray(value)) {
    for (const item of value) for (const k of valueKeys(item, schema.items as Node, `${prefix}[]`)) out.add(k);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const known = schema.properties?.[k];
      const sub = known ?? (schema.additionalProperties as Node);
      const p = known ? (prefix ? `${prefix}.${k}` : k) : `${prefix}.<name>`;
      if (known) out.add(p);
      for (const kk of valueKeys(v, sub, p)) out.add(kk);
    }
  }
  return out;
}

const ALL_KEYS = schemaKeys(gatewayConfigSchema as unknown as Node);

describe('auditgate.example.yaml', () => {
  let dir: string;
  let example: Record<string, any>;
  const env = { AUDITGATE_READER_PASSWORD: 'example-reader-pw-41a', AUDITGATE_MASK_HASH_KEY: 'example-hash-key-b7e', AUDITGATE_CONTROL_DB: 'postgres://auditgate:example-control-pw-5d2@127.0.0.1/auditgate_control' };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'auditgate-example-'));
    example = parse(await readFile(EXAMPLE, 'utf8'));
    // Create the files the example names, next to a copy of it (paths are relative to the file).
    const files: string[] = [
      example.listen.tls.cert_file,
      example.listen.tls.key_file,
      example.policy.bundle,
      example.upstream.tls.ca_file,
      example.approvals.admin.tls.cert_file,
      example.approvals.admin.tls.key_file,
      ...example.identity.issuers.filter((i: any) => i.jwks_file).map((i: any) => i.jwks_file),
    ];
    for (const f of files) {
      await mkdir(dirname(join(dir, f)), { recursive: true });
      await writeFile(join(dir, f), 'not a secret');
    }
    for (const role of Object.values<any>(example.upstream.roles).filter((r) => r.password_file)) {
      await mkdir(dirname(join(dir, role.password_file)), { recursive: true });
      await writeFile(join(dir, role.password_file), 'example-writer-pw-9c0\n');
    }
    await copyFile(EXAMPLE, join(dir, 'auditgate.yaml'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads with the environment variables it names set', async () => {
    expect(Object.keys(env).sort()).toEqual(
      [
        ...Object.values<any>(example.upstream.roles).flatMap((r) => (r.password_env ? [r.password_env] : [])),
        example.masking.hash_key_env,
        example.approvals.store.url_env,
      ].sort(),
    );
    const c = await loadConfig(join(dir, 'auditgate.yaml'), {}, { env });
    expect(c.listen.require_tls).toBe(true);
    expect(c.listen.tls?.cert_file).toBe(join(dir, 'certs/gateway.crt'));
    expect(c.identity.issuers.map((i) => i.jwks_url ?? i.jwks_file)).toEqual([
      'https://idp.acme.test/.well-known/jwks.json',
      join(dir, 'keys/ci-jwks.json'),
    ]);
    expect(c.upstream.roles).toEqual({
      auditgate_reader: { user: 'auditgate_reader', password: env.AUDITGATE_READER_PASSWORD, password_source: 'env:AUDITGATE_READER_PASSWORD' },
      auditgate_writer: {
        user: 'auditgate_writer',
        password: 'example-writer-pw-9c0',
        password_source: `file:${join(dir, 'secrets/writer-password')}`,
      },
      auditgate_local: { user: 'auditgate_local', password: null, password_source: 'none' },
    });
    expect(c.masking.hash_key).toBe(env.AUDITGATE_MASK_HASH_KEY);
    expect(c.recording.dir).toBe(join(dir, 'segments'));
    expect(c.approvals.store_url).toBe(env.AUDITGATE_CONTROL_DB);
    expect(c.warnings).toEqual([]);
    const summary = describeConfig(c);
    for (const secret of [...Object.values(env), 'example-writer-pw-9c0']) expect(summary).not.toContain(secret);
  });

  it('without its environment variables, it names each one', async () => {
    await expect(loadConfig(join(dir, 'auditgate.yaml'), {}, { env: {} })).rejects.toThrow(
      /upstream\.roles\.auditgate_reader\.password_env: environment variable AUDITGATE_READER_PASSWORD is not set\n.*masking\.hash_key_env: environment variable AUDITGATE_MASK_HASH_KEY is not set/s,
    );
  });

  it('sets every key (or shows it in a comment when it excludes another)', async () => {
    const text = await readFile(EXAMPLE, 'utf8');
    const set = valueKeys(example, gatewayConfigSchema as unknown as Node);
    const missing = ALL_KEYS.filter((k) => !set.has(k) && !new RegExp(`^\\s*#\\s*${k.split('.').pop()}:`, 'm').test(text));
    expect(missing).toEqual([]);
  });
});

describe('docs/configuration.md', () => {
  it('documents every key of the schema', async () => {
    const docs = await readFile(DOCS, 'utf8');
    expect(ALL_KEYS.length).toBeGreaterThan(50);
    // Sections have a heading, keys a table row.
    const undocumented = ALL_KEYS.filter((k) => !docs.includes(k.includes('.') ? `| \`${k}\` |` : `### \`${k}\``));
    expect(undocumented).toEqual([]);
  });

  it('documents no key the schema does not have', async () => {
    const docs = await readFile(DOCS, 'utf8');
    const documented = [...docs.matchAll(/^\| `([a-z_.<>[\]]+)` \|/gm)].map((m) => m[1]!);
    const known = new Set(ALL_KEYS);
    expect(documented.filter((k) => k.includes('.') && !known.has(k))).toEqual([]);
  });

  it('includes the example file verbatim', async () => {
    const docs = await readFile(DOCS, 'utf8');
    expect(docs).toContain(`\`\`\`yaml\n${await readFile(EXAMPLE, 'utf8')}\`\`\``);
  });
});
