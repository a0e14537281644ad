import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_BUNDLE_PATH } from '../../policies/locations.js';
import { ConfigError, configSummary, describeConfig, loadConfig, type ConfigIssue } from './load.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ENV = { READER_PW: 'reader-secret-1f9a', MASK_KEY: 'mask-key-77c2e0' };

const ISSUER = `identity:
  issuers:
    - issuer: https://idp.test
      audience: auditgate
      jwks_url: https://idp.test/jwks
`;
const UPSTREAM = `upstream:
  roles:
    reader:
      user: reader
      password_env: READER_PW
  catalog_role: reader
`;
const MINIMAL = ISSUER + UPSTREAM;

async function write(text: string, name = 'auditgate.yaml'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function load(text: string, overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = ENV) {
  return loadConfig(await write(text), overrides, { env });
}

async function failure(text: string, overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = ENV): Promise<ConfigError> {
  const file = await write(text);
  try {
    await loadConfig(file, overrides, { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** The one issue at `path`; its line and message are checked, and the formatted message names file:line: path. */
function issueAt(err: ConfigError, path: string, line: number | null, message: RegExp): ConfigIssue {
  const found = err.issues.filter((i) => i.path === path);
  expect(found, `issues: ${err.message}`).toHaveLength(1);
  const issue = found[0]!;
  expect(issue.line).toBe(line);
  expect(issue.message).toMatch(message);
  const where = line === null ? err.file : `${err.file}:${line}`;
  expect(err.message).toContain(`${where}: ${path}`);
  return issue;
}

/** 1-based line of the first line of `text` containing `needle`. */
function lineOfText(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in text`);
  return i + 1;
}

describe('loadConfig: errors name the file, line and key', () => {
  it('unknown key, with a suggestion', async () => {
    const text = `listen:\n  host: 127.0.0.1\n  prot: 7000\n${MINIMAL}`;
    const err = await failure(text);
    issueAt(err, 'listen.prot', 3, /^unknown key \(did you mean "port"\?\)$/);
    expect(err.message).toBe(`${err.file}:3: listen.prot: unknown key (did you mean "port"?)`);
  });

  it('unknown top-level key without a close match lists the known ones', async () => {
    const err = await failure(`${MINIMAL}frobnicate: 1\n`);
    issueAt(err, 'frobnicate', lineOfText(`${MINIMAL}frobnicate: 1\n`, 'frobnicate'), /unknown key \(known keys: listen, identity, policy/);
  });

  it('wrong type', async () => {
    const err = await failure(`${MINIMAL}listen:\n  port: seventy\n`);
    issueAt(err, 'listen.port', lineOfText(`${MINIMAL}listen:\n  port: seventy\n`, 'port:'), /^must be an integer \(got "seventy"\)$/);
  });

  it('out of range and enum values', async () => {
    const text = `${MINIMAL}listen:\n  port: 70000\nlog:\n  level: verbose\n  format: jsn\n`;
    const err = await failure(text);
    issueAt(err, 'listen.port', lineOfText(text, 'port: 70000'), /^must be <= 65535 \(got 70000\)$/);
    issueAt(err, 'log.level', lineOfText(text, 'level:'), /^must be one of "error", "warn", "info", "debug" \(got "verbose"\)$/);
    issueAt(err, 'log.format', lineOfText(text, 'format:'), /did you mean "json"\?/);
  });

  it('HS256 (and none) in algorithms are refused by the schema', async () => {
    const text = `identity:
  issuers:
    - issuer: https://idp.test
      audience: auditgate
      jwks_url: https://idp.test/jwks
      algorithms:
        - RS256
        - HS256
        - none
${UPSTREAM}`;
    const err = await failure(text);
    issueAt(err, 'identity.issuers[0].algorithms[1]', 8, /"HS256" is a shared-secret \(HMAC\) algorithm.*RS256, RS384/);
    issueAt(err, 'identity.issuers[0].algorithms[2]', 9, /"none" \(unsigned tokens\) is never accepted/);
  });

  it('both jwks_file and jwks_url, or neither', async () => {
    const text = `identity:
  issuers:
    - issuer: https://a.test
      audience: auditgate
      jwks_url: https://a.test/jwks
    - issuer: https://b.test
      audience: auditgate
      jwks_url: https://b.test/jwks
      jwks_file: b.json
    - issuer: https://c.test
      audience: auditgate
${UPSTREAM}`;
    const err = await failure(text);
    issueAt(err, 'identity.issuers[1]', 6, /^must have exactly one of jwks_file, jwks_url \(got jwks_file and jwks_url\)$/);
    issueAt(err, 'identity.issuers[2]', 10, /^must have exactly one of jwks_file, jwks_url \(got none\)$/);
    expect(err.issues).toHaveLength(2); // the oneOf branches' own "required" errors are folded in
  });

  it('jwks_url over plain http to another host is refused', async () => {
    const err = await failure(MINIMAL.replace('jwks_url: https://idp.test/jwks', 'jwks_url: http://idp.test/jwks'));
    issueAt(err, 'identity.issuers[0].jwks_url', 5, /must be an https:\/\/ URL/);
    // ... but http to this machine is fine (a local IdP in development).
    await expect(load(MINIMAL.replace('https://idp.test/jwks', 'http://localhost:8080/jwks'))).resolves.toBeTruthy();
  });

  it('a plaintext password is not allowed', async () => {
    const text = `${ISSUER}upstream:
  roles:
    reader:
      user: reader
      password: hunter2
  catalog_role: reader
`;
    const err = await failure(text);
    issueAt(err, 'upstream.roles.reader.password', 10, /^a password is never written in the config file: use password_env .* or password_file/);
    expect(err.message).not.toContain('hunter2');
  });

  it('password_env and password_file together, or no password key at all', async () => {
    const text = `${ISSUER}upstream:
  roles:
    reader:
      user: reader
      password_env: READER_PW
      password_file: pw.txt
    writer:
      user: writer
  catalog_role: reader
`;
    const err = await failure(text);
    expect(err.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`)).toEqual([
      '8: upstream.roles.reader: must have exactly one of password_env, password_file, password (got password_env and password_file)',
      '12: upstream.roles.writer: must have exactly one of password_env, password_file, password (got none)',
    ]);
  });

  it('a password environment variable that is not set or empty', async () => {
    const line = lineOfText(MINIMAL, 'password_env');
    const unset = await failure(MINIMAL, {}, { OTHER: 'x' });
    issueAt(unset, 'upstream.roles.reader.password_env', line, /^environment variable READER_PW is not set$/);
    const empty = await failure(MINIMAL, {}, { READER_PW: '' });
    issueAt(empty, 'upstream.roles.reader.password_env', line, /^environment variable READER_PW is empty$/);
  });

  it('an unreadable password file: missing, a directory, no permission', async () => {
    const text = MINIMAL.replace('password_env: READER_PW', 'password_file: secrets/reader');
    const line = lineOfText(text, 'password_file');
    const missing = await failure(text);
    issueAt(missing, 'upstream.roles.reader.password_file', line, new RegExp(`^cannot read ${join(dir, 'secrets', 'reader')}: no such file$`));

    await mkdir(join(dir, 'secrets', 'reader'), { recursive: true });
    issueAt(await failure(text), 'upstream.roles.reader.password_file', line, /: is a directory$/);
    await rm(join(dir, 'secrets', 'reader'), { recursive: true });

    await writeFile(join(dir, 'secrets', 'reader'), 'file-secret-9d3\n');
    if (process.getuid?.() !== 0) {
      await chmod(join(dir, 'secrets', 'reader'), 0o000);
      const denied = await failure(text);
      issueAt(denied, 'upstream.roles.reader.password_file', line, /: permission denied$/);
      await chmod(join(dir, 'secrets', 'reader'), 0o600);
    }
    const ok = await load(text);
    expect(ok.upstream.roles.reader).toEqual({ user: 'reader', password: 'file-secret-9d3', password_source: `file:${join(dir, 'secrets', 'reader')}` });
  });

  it('require_tls without listen.tls', async () => {
    const text = `${MINIMAL}listen:\n  require_tls: true\n`;
    const err = await failure(text);
    issueAt(err, 'listen.require_tls', lineOfText(text, 'require_tls'), /^is true but listen.tls is not set/);
  });

  it('listen.tls files must exist', async () => {
    const text = `${MINIMAL}listen:\n  tls:\n    cert_file: gw.crt\n    key_file: gw.key\n`;
    await writeFile(join(dir, 'gw.key'), 'key');
    const err = await failure(text);
    issueAt(err, 'listen.tls.cert_file', lineOfText(text, 'cert_file'), new RegExp(`^cannot read ${join(dir, 'gw.crt')}: no such file$`));
    expect(err.issues).toHaveLength(1);
  });

  it('catalog_role must be one of the roles', async () => {
    const text = MINIMAL.replace('catalog_role: reader', 'catalog_role: raeder');
    const err = await failure(text);
    issueAt(err, 'upstream.catalog_role', lineOfText(text, 'catalog_role'), /^"raeder" is not one of upstream.roles \(reader\) — did you mean "reader"\?$/);
  });

  it('invalid YAML syntax names the line', async () => {
    const text = `${MINIMAL}listen:\n  port: [6432\n  host: x\n`;
    const err = await failure(text);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]!.line).toBeGreaterThanOrEqual(lineOfText(text, 'port: [6432'));
    expect(err.message).toMatch(new RegExp(`^${err.file}:\\d+: not valid YAML: `));

    const dup = `${MINIMAL}listen:\n  port: 1\n  port: 2\n`;
    const dupErr = await failure(dup);
    expect(dupErr.issues[0]!.line).toBe(lineOfText(dup, 'port: 2'));
    expect(dupErr.message).toMatch(/not valid YAML: Map keys must be unique/);
  });

  it('an empty optional section is like an absent one; an empty required one is an error', async () => {
    const c = await load(`${MINIMAL}listen:\n  # port: 7000\nlog:\n`);
    expect(c.listen.port).toBe(6432);
    expect(c.log.level).toBe('info');
    const text = `${ISSUER}upstream:\n  roles:\n    reader:\n  catalog_role: reader\n`;
    const err = await failure(text);
    expect(err.issues).toHaveLength(1);
    issueAt(err, 'upstream.roles.reader', lineOfText(text, 'reader:'), /^must be a map \(got null\)$/);
  });

  it('a missing required section, and an unreadable config file', async () => {
    const err = await failure(UPSTREAM);
    issueAt(err, 'identity', null, /^required key is missing$/);
    await expect(loadConfig(join(dir, 'nope.yaml'))).rejects.toThrow(/nope.yaml: cannot read the config file: no such file/);
  });

  it('reports every problem at once, in file order', async () => {
    const text = `listen:\n  prot: 1\n${ISSUER}upstream:\n  roles:\n    reader: {user: reader, password: x}\n  catalog_role: reader\nlog: {level: loud}\n`;
    const err = await failure(text);
    expect(err.issues.map((i) => i.path)).toEqual(['listen.prot', 'upstream.roles.reader.password', 'log.level']);
    expect(err.message.split('\n')).toHaveLength(3);
  });

  it('semantic checks: duplicate issuer, memory pages, hash method without a key, two hash keys', async () => {
    const text = `${ISSUER}    - issuer: https://idp.test
      audience: other
      jwks_url: https://idp.test/other
${UPSTREAM}policy:
  memory_pages: {initial: 600, maximum: 512}
masking:
  default_method: hash
`;
    const err = await failure(text);
    issueAt(err, 'identity.issuers[1].issuer', 6, /"https:\/\/idp.test" is already configured \(identity.issuers\[0\]\)/);
    issueAt(err, 'policy.memory_pages.initial', lineOfText(text, 'memory_pages'), /must not exceed policy.memory_pages.maximum \(600 > 512\)/);
    issueAt(err, 'masking.default_method', lineOfText(text, 'default_method'), /needs a key/);

    const jwksFile = `identity:
  issuers:
    - issuer: https://idp.test
      audience: auditgate
      jwks_file: jwks.json
      jwks_cache_seconds: 60
  claims:
    provenance: [model, exp]
${UPSTREAM}`;
    await writeFile(join(dir, 'jwks.json'), '{"keys":[]}');
    const jwksErr = await failure(jwksFile);
    issueAt(jwksErr, 'identity.issuers[0].jwks_cache_seconds', 6, /^applies to jwks_url only/);
    issueAt(jwksErr, 'identity.claims.provenance[1]', 8, /^"exp" is a registered claim/);

    const both = `${MINIMAL}masking:\n  hash_key_env: MASK_KEY\n  hash_key_file: k\n`;
    issueAt(await failure(both), 'masking', lineOfText(both, 'masking:'), /^must not have both hash_key_env and hash_key_file$/);
  });
});

describe('loadConfig: defaults, overrides, paths, secrets', () => {
  it('applies every default', async () => {
    const c = await load(MINIMAL);
    expect(c.listen).toEqual({
      host: '127.0.0.1',
      port: 6432,
      tls: null,
      require_tls: false,
      max_message_bytes: 64 * 1024 * 1024,
      max_connections: 1000,
      startup_timeout_ms: 15000,
    });
    expect(c.identity).toEqual({
      issuers: [
        {
          issuer: 'https://idp.test',
          audience: ['auditgate'],
          jwks_url: 'https://idp.test/jwks',
          algorithms: ['RS256', 'ES256', 'EdDSA'],
          clock_tolerance_seconds: 30,
        },
      ],
      claims: { subject: 'sub', groups: 'groups', kind: 'auditgate_kind', default_kind: 'agent', provenance: ['model', 'repository', 'ticket', 'agent', 'session'] },
      dev_issuer: false,
    });
    expect(c.policy).toEqual({
      bundle: DEFAULT_BUNDLE_PATH,
      bundle_is_default: true,
      memory_pages: { initial: 8, maximum: 512 },
      max_input_bytes: 1048576,
      reload: 'watch',
      decision_cache: { enabled: true, max_entries: 10000 },
    });
    expect(c.upstream).toEqual({
      name: 'default',
      environment: 'production',
      host: '127.0.0.1',
      port: 5432,
      database: null,
      tls: { mode: 'prefer' },
      channel_binding: 'prefer',
      connect_timeout_ms: 10000,
      roles: { reader: { user: 'reader', password: ENV.READER_PW, password_source: 'env:READER_PW' } },
      catalog_role: 'reader',
    });
    expect(c.masking).toEqual({ default_method: 'redact', hash_key: null, hash_key_source: 'none', catalog_cache_seconds: 300 });
    expect(c.approvals).toEqual({
      mode: 'deny',
      store_url: null,
      max_wait_seconds: 900,
      admin: { enabled: true, host: '127.0.0.1', port: 6480, tls: null },
      webhook: null,
      access_roles: {},
    });
    expect(c.recording).toEqual({
      dir: join(dir, 'segments'),
      mode: 'strict',
      gateway_id: expect.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
      signing_key_file: join(dir, 'keys/segment-signing.pem'),
      public_key_file: join(dir, 'keys/segment-signing.pub.pem'),
      batch_interval_ms: 50,
      segment_max_bytes: 64 * 1024 * 1024,
      segment_max_age_seconds: 3600,
      max_pending_records: 100000,
    });
    expect(c.log).toEqual({ level: 'info', format: 'text' });
    expect(c.warnings).toEqual([]);
    expect(c.file).toBe(join(dir, 'auditgate.yaml'));
  });

  it('an explicit value wins over the default', async () => {
    const c = await load(`${MINIMAL}listen: {port: 7001, max_connections: 5}\npolicy: {decision_cache: {enabled: false}}\n`);
    expect(c.listen.port).toBe(7001);
    expect(c.listen.max_connections).toBe(5);
    expect(c.listen.host).toBe('127.0.0.1');
    expect(c.policy.decision_cache).toEqual({ enabled: false, max_entries: 10000 });
  });

  it('overrides apply, with values converted to the type the key wants', async () => {
    const c = await load(MINIMAL, {
      'listen.port': '7000',
      'listen.require_tls': 'false',
      'upstream.database': '123',
      'upstream.name': 'orders-db',
      'policy.decision_cache.enabled': 'false',
      'identity.issuers.0.algorithms': 'ES256,EdDSA',
      'identity.issuers.0.audience': '[a, b]',
      'log.level': 'debug',
    });
    expect(c.listen.port).toBe(7000);
    expect(c.listen.require_tls).toBe(false);
    expect(c.upstream.database).toBe('123');
    expect(c.upstream.name).toBe('orders-db');
    expect(c.policy.decision_cache.enabled).toBe(false);
    expect(c.identity.issuers[0]!.algorithms).toEqual(['ES256', 'EdDSA']);
    expect(c.identity.issuers[0]!.audience).toEqual(['a', 'b']);
    expect(c.log.level).toBe('debug');

    const db = await load(`${MINIMAL}  database: orders\n`, { 'upstream.database': 'null' });
    expect(db.upstream.database).toBeNull();
    // Numbers a CLI parser already converted go back to strings where the key wants one.
    expect((await load(MINIMAL, { 'upstream.database': 123 })).upstream.database).toBe('123');
  });

  it('overrides win over the file and are validated, naming the flag', async () => {
    const text = `${MINIMAL}listen:\n  port: 6000\n`;
    expect((await load(text, { 'listen.port': '7000' })).listen.port).toBe(7000);

    const bad = await failure(text, { 'listen.port': 'abc' });
    expect(bad.issues).toEqual([{ path: 'listen.port', line: null, override: 'listen.port', message: 'must be an integer (got "abc")' }]);
    expect(bad.message).toBe(`${bad.file}: listen.port (set by --listen.port): must be an integer (got "abc")`);

    const unknown = await failure(MINIMAL, { 'listen.prot': '7000' });
    expect(unknown.message).toBe(`${unknown.file}: listen.prot (set by --listen.prot): unknown key (did you mean "port"?)`);

    const hs = await failure(MINIMAL, { 'identity.issuers.0.algorithms': 'RS256,HS256' });
    issueAt(hs, 'identity.issuers[0].algorithms[1]', null, /shared-secret/);

    const notAPath = await failure(MINIMAL, { 'listen..port': '1', '__proto__.polluted': 'yes' });
    expect(notAPath.issues.map((i) => i.message)).toEqual([
      'override --listen..port: not a key path (expected e.g. listen.port)',
      'override --__proto__.polluted: not a key path (expected e.g. listen.port)',
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    const tls = await failure(MINIMAL, { 'listen.require_tls': 'true' });
    expect(tls.issues[0]).toMatchObject({ path: 'listen.require_tls', override: 'listen.require_tls' });

    const secret = await failure(MINIMAL, { 'upstream.roles.reader.password_env': 'NOT_SET_ANYWHERE' });
    expect(secret.message).toContain('upstream.roles.reader.password_env (set by --upstream.roles.reader.password_env): environment variable NOT_SET_ANYWHERE is not set');
  });

  it('resolves relative paths against the config file folder, not the working directory', async () => {
    const sub = join(dir, 'conf');
    await mkdir(join(sub, 'certs'), { recursive: true });
    await mkdir(join(sub, 'secrets'), { recursive: true });
    for (const f of ['certs/gw.crt', 'certs/gw.key', 'certs/ca.crt', 'jwks.json', 'bundle.tar.gz']) await writeFile(join(sub, f), 'x');
    await writeFile(join(sub, 'secrets', 'writer'), 'writer-secret-55ab\n');
    await writeFile(join(sub, 'secrets', 'hash'), 'hash-key-from-file-0c1\r\n');
    const text = `listen:
  tls: {cert_file: certs/gw.crt, key_file: ./certs/gw.key}
identity:
  issuers:
    - {issuer: i, audience: a, jwks_file: jwks.json}
policy: {bundle: bundle.tar.gz}
upstream:
  tls: {mode: verify-full, ca_file: certs/ca.crt}
  roles:
    writer: {user: writer, password_file: secrets/writer}
    local: {user: local, password: null}
  catalog_role: writer
masking: {hash_key_file: secrets/hash}
recording: {dir: ../segments}
`;
    const file = join(sub, 'auditgate.yaml');
    await writeFile(file, text);
    const cwd = process.cwd();
    expect(cwd).not.toBe(sub);
    const c = await loadConfig(file, {}, { env: {} });
    expect(c.listen.tls).toEqual({ cert_file: join(sub, 'certs/gw.crt'), key_file: join(sub, 'certs/gw.key') });
    expect(c.identity.issuers[0]!.jwks_file).toBe(join(sub, 'jwks.json'));
    expect(c.identity.issuers[0]!.jwks_url).toBeUndefined();
    expect(c.policy.bundle).toBe(join(sub, 'bundle.tar.gz'));
    expect(c.policy.bundle_is_default).toBe(false);
    expect(c.upstream.tls).toEqual({ mode: 'verify-full', ca_file: join(sub, 'certs/ca.crt') });
    expect(c.upstream.roles).toEqual({
      writer: { user: 'writer', password: 'writer-secret-55ab', password_source: `file:${join(sub, 'secrets/writer')}` },
      local: { user: 'local', password: null, password_source: 'none' },
    });
    expect(c.masking.hash_key).toBe('hash-key-from-file-0c1');
    expect(c.recording.dir).toBe(join(dir, 'segments'));
    // Absolute paths stay as they are.
    const absolute = await loadConfig(file, { 'policy.bundle': DEFAULT_BUNDLE_PATH }, { env: {} });
    expect(absolute.policy.bundle).toBe(DEFAULT_BUNDLE_PATH);
  });

  it('warns about the dev issuer and a plaintext listener on the network', async () => {
    const c = await load(MINIMAL, {
      'identity.dev_issuer': 'true',
      'listen.host': '0.0.0.0',
    });
    expect(c.warnings).toEqual([
      expect.stringMatching(/^listening on 0\.0\.0\.0 without TLS/),
      expect.stringMatching(/^identity\.dev_issuer is on/),
    ]);
  });
});

describe('describeConfig and configSummary', () => {
  it('never contain a secret, and say where each secret came from', async () => {
    await writeFile(join(dir, 'writer'), 'writer-file-secret-31d\n');
    const text = `${ISSUER}upstream:
  roles:
    reader: {user: reader, password_env: READER_PW}
    writer: {user: writer, password_file: writer}
  catalog_role: reader
masking: {hash_key_env: MASK_KEY}
`;
    const c = await load(text);
    expect(c.upstream.roles.reader!.password).toBe(ENV.READER_PW);
    expect(c.upstream.roles.writer!.password).toBe('writer-file-secret-31d');
    expect(c.masking.hash_key).toBe(ENV.MASK_KEY);
    const text1 = describeConfig(c);
    const json = JSON.stringify(configSummary(c));
    for (const out of [text1, json]) {
      for (const s of [ENV.READER_PW, ENV.MASK_KEY, 'writer-file-secret-31d']) expect(out).not.toContain(s);
      expect(out).toContain('env:READER_PW');
      expect(out).toContain(`file:${join(dir, 'writer')}`);
      expect(out).toContain('env:MASK_KEY');
      expect(out).toContain('https://idp.test');
    }
    expect(text1).toContain('listen 127.0.0.1:6432');
  });
});
