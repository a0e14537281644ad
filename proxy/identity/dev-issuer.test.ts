import { chmod, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { defaultDevIssuerDir, DEV_AUDIENCE_DEFAULT, DEV_ISSUER_DEFAULT, devIssuerConfig, ensureDevIssuer, issueDevToken, type DevIssuer } from './dev-issuer.js';
import { expectRefused, tempDir } from './identity.fixtures.js';
import { IdentityVerifier } from './verifier.js';

const verifierFor = (dev: DevIssuer, audience = dev.audience) => new IdentityVerifier({ issuers: [{ ...devIssuerConfig(dev), audience }] });

describe('ensureDevIssuer', () => {
  it('creates a 0600 Ed25519 key, a public JWKS with kid, and metadata on first use', async () => {
    const dir = join(await tempDir(), 'dev-issuer'); // created on demand
    const dev = await ensureDevIssuer(dir);
    expect(dev).toMatchObject({ dir, issuer: DEV_ISSUER_DEFAULT, audience: DEV_AUDIENCE_DEFAULT, jwksPath: join(dir, 'jwks.json'), algorithm: 'EdDSA' });

    expect((await stat(join(dir, 'dev-issuer.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o077).toBe(0);
    expect(await readFile(join(dir, 'dev-issuer.key'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);

    const set = JSON.parse(await readFile(dev.jwksPath, 'utf8')) as { keys: Record<string, unknown>[] };
    expect(set.keys).toEqual([{ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: dev.kid, alg: 'EdDSA', use: 'sig' }]);
    expect(set.keys[0]).not.toHaveProperty('d'); // public only

    expect(JSON.parse(await readFile(join(dir, 'dev-issuer.json'), 'utf8'))).toMatchObject({
      issuer: DEV_ISSUER_DEFAULT,
      audience: DEV_AUDIENCE_DEFAULT,
      kid: dev.kid,
    });
  });

  it('reuses the key on later calls (also when they race)', async () => {
    const dir = await tempDir();
    const first = await Promise.all([1, 2, 3, 4].map(() => ensureDevIssuer(dir)));
    expect(new Set(first.map((d) => d.kid)).size).toBe(1);
    const key = await readFile(join(dir, 'dev-issuer.key'), 'utf8');
    const before = await stat(join(dir, 'dev-issuer.key'));
    const jwksBefore = await stat(join(dir, 'jwks.json'));
    const again = await ensureDevIssuer(dir);
    expect(again.kid).toBe(first[0]!.kid);
    expect(await readFile(join(dir, 'dev-issuer.key'), 'utf8')).toBe(key);
    expect((await stat(join(dir, 'dev-issuer.key'))).mtimeMs).toBe(before.mtimeMs);
    expect((await stat(join(dir, 'jwks.json'))).mtimeMs).toBe(jwksBefore.mtimeMs); // unchanged: no needless JWKS reload
  });

  it('stores an explicit issuer and audience for later tokens', async () => {
    const dir = await tempDir();
    await ensureDevIssuer(dir);
    const dev = await ensureDevIssuer(dir, { issuer: 'https://dev.acme.test', audience: 'gw' });
    expect(dev).toMatchObject({ issuer: 'https://dev.acme.test', audience: 'gw' });
    expect(await ensureDevIssuer(dir)).toMatchObject({ issuer: 'https://dev.acme.test', audience: 'gw', kid: dev.kid });
    const claims = decodeJwt(await issueDevToken(dir, { sub: 'x' }));
    expect(claims).toMatchObject({ iss: 'https://dev.acme.test', aud: 'gw' });
  });

  it('refuses a private key other users can read', async () => {
    const dir = await tempDir();
    await ensureDevIssuer(dir);
    await chmod(join(dir, 'dev-issuer.key'), 0o644);
    await expect(ensureDevIssuer(dir)).rejects.toThrow(/accessible by other users.*chmod 600/);
    await expect(issueDevToken(dir, { sub: 'x' })).rejects.toThrow(/chmod 600/);
  });

  it('gives the issuers[] entry that trusts it', async () => {
    const dev = await ensureDevIssuer(await tempDir());
    expect(devIssuerConfig(dev)).toStrictEqual({ issuer: DEV_ISSUER_DEFAULT, audience: DEV_AUDIENCE_DEFAULT, jwks_file: dev.jwksPath, algorithms: ['EdDSA'] });
  });

  it('defaults to $AUDITGATE_HOME/dev-issuer, else ~/.auditgate/dev-issuer', () => {
    expect(defaultDevIssuerDir({ AUDITGATE_HOME: '/srv/ag' })).toBe('/srv/ag/dev-issuer');
    expect(defaultDevIssuerDir({})).toBe(join(homedir(), '.auditgate', 'dev-issuer'));
    expect(defaultDevIssuerDir({ AUDITGATE_HOME: '' })).toBe(join(homedir(), '.auditgate', 'dev-issuer'));
  });
});

describe('issueDevToken', () => {
  it('mints tokens that IdentityVerifier accepts from the dev issuer\'s jwks.json', async () => {
    const dir = await tempDir();
    const dev = await ensureDevIssuer(dir);
    const token = await issueDevToken(dir, {
      sub: 'agent:me',
      groups: ['agents', 'agent-writers'],
      kind: 'agent',
      claims: { model: 'claude-sonnet-4', repository: 'acme/shop', ticket: 'OPS-1', note: 'not copied' },
      ttlSeconds: 600,
    });
    expect(await verifierFor(dev).verify(token)).toStrictEqual({
      subject: 'agent:me',
      issuer: DEV_ISSUER_DEFAULT,
      groups: ['agents', 'agent-writers'],
      kind: 'agent',
      claims: { model: 'claude-sonnet-4', repository: 'acme/shop', ticket: 'OPS-1' },
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', kid: dev.kid, typ: 'JWT' });
    const c = decodeJwt(token);
    expect(c.exp! - c.iat!).toBe(600);
    expect(c.jti).toEqual(expect.any(String));

    const human = await issueDevToken(dir, { sub: 'alice', kind: 'human' });
    expect(await verifierFor(dev).verify(human)).toMatchObject({ subject: 'alice', kind: 'human', groups: [] });
  });

  it('creates the issuer on demand, and its tokens are refused by a verifier for another audience or key', async () => {
    const dir = await tempDir();
    const token = await issueDevToken(dir, { sub: 'x' });
    const dev = await ensureDevIssuer(dir);
    expect((await verifierFor(dev).verify(token)).subject).toBe('x');
    await expectRefused(verifierFor(dev, 'other-gateway'), token, { reason: 'audience_not_accepted', sqlstate: '28P01' });
    const otherDev = await ensureDevIssuer(await tempDir());
    await expectRefused(verifierFor(otherDev), token, { reason: 'unknown_key', sqlstate: '28P01' });
  });

  it('refuses registered claims in claims, a bad ttl and an empty subject', async () => {
    const dir = await tempDir();
    await expect(issueDevToken(dir, { sub: 'x', claims: { aud: 'elsewhere', exp: 1 } })).rejects.toThrow(/registered claims \(aud, exp\)/);
    await expect(issueDevToken(dir, { sub: 'x', ttlSeconds: 0 })).rejects.toThrow(/ttl/);
    await expect(issueDevToken(dir, { sub: 'x', ttlSeconds: 1.5 })).rejects.toThrow(/ttl/);
    await expect(issueDevToken(dir, { sub: '' })).rejects.toThrow(/subject/);
  });
});
