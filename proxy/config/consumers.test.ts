// The resolved config feeds the modules that use it without adapters: its identity section is
// an IdentityConfig that proxy/identity accepts, and its upstream role credentials and TLS
// settings have proxy/upstream's shapes. The assignments below are checked by `tsc`; the
// calls at run time.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveIdentityConfig, type IdentityConfig } from '../identity/config.js';
import type { RoleCredential, UpstreamTarget } from '../upstream/connect.js';
import { loadConfig } from './load.js';

describe('ResolvedConfig and its consumers', () => {
  it('identity and upstream sections have the shapes proxy/identity and proxy/upstream take', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'auditgate-consumers-'));
    try {
      await writeFile(join(dir, 'jwks.json'), '{"keys":[]}');
      await writeFile(
        join(dir, 'auditgate.yaml'),
        `identity:
  issuers:
    - {issuer: https://a.test, audience: auditgate, jwks_url: https://a.test/jwks, jwks_timeout_seconds: 3, max_token_age_seconds: 600}
    - {issuer: https://b.test, audience: [x, y], jwks_file: jwks.json, algorithms: [ES256]}
  claims: {default_kind: human, provenance: [ticket]}
upstream:
  tls: {mode: verify-full, servername: db.test}
  roles:
    reader: {user: reader, password_env: PW}
  catalog_role: reader
`,
      );
      const config = await loadConfig(join(dir, 'auditgate.yaml'), {}, { env: { PW: 'pw' } });

      const identity: IdentityConfig = config.identity;
      const resolved = resolveIdentityConfig(identity);
      expect([...resolved.issuers.keys()]).toEqual(['https://a.test', 'https://b.test']);
      expect(resolved.issuers.get('https://a.test')).toMatchObject({ timeoutMs: 3000, maxTokenAge: 600, clockTolerance: 30 });
      expect(resolved.issuers.get('https://b.test')).toMatchObject({ audience: ['x', 'y'], source: { file: join(dir, 'jwks.json') }, algorithms: ['ES256'] });
      expect(resolved.claims).toMatchObject({ default_kind: 'human', provenance: ['ticket'] });

      const credential: RoleCredential = config.upstream.roles.reader!;
      const tls: UpstreamTarget['tls'] = config.upstream.tls;
      const channelBinding: UpstreamTarget['channel_binding'] = config.upstream.channel_binding;
      expect(credential).toMatchObject({ user: 'reader', password: 'pw' });
      expect(tls).toEqual({ mode: 'verify-full', servername: 'db.test' });
      expect(channelBinding).toBe('prefer');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
