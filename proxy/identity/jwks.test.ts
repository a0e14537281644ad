import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityConfigError, IdentityVerifier, type IssuerConfig } from './verifier.js';
import { AUDIENCE, expectRefused, ISSUER, jwks, makeKey, sign, tempDir, writeJwks, type TestKey } from './identity.fixtures.js';

let a: TestKey;
let b: TestKey;
beforeAll(async () => {
  [a, b] = await Promise.all([makeKey('EdDSA'), makeKey('ES256')]);
});

const fileIssuer = (jwks_file: string): IssuerConfig => ({ issuer: ISSUER, audience: AUDIENCE, jwks_file, algorithms: ['EdDSA', 'ES256'] });

describe('jwks_file', () => {
  it('picks up a rotated key when the file changes', async () => {
    const dir = await tempDir();
    const path = await writeJwks(join(dir, 'jwks.json'), a);
    const v = new IdentityVerifier({ issuers: [fileIssuer(path)] });
    const tokenA = await sign(a, { sub: 'a' });
    const tokenB = await sign(b, { sub: 'b' });
    expect((await v.verify(tokenA)).subject).toBe('a');
    await expectRefused(v, tokenB, { reason: 'unknown_key', sqlstate: '28P01', clientMessage: 'invalid token: signing key not recognised' });

    // Rotate in place (same inode), with a distinct mtime.
    await writeJwks(path, b);
    const later = new Date(Date.now() + 5000);
    await utimes(path, later, later);
    expect((await v.verify(tokenB)).subject).toBe('b');
    await expectRefused(v, tokenA, { reason: 'unknown_key', sqlstate: '28P01' }); // the old key is gone

    // Rotate by atomic rename, as config management tools do.
    await writeJwks(join(dir, 'next.json'), a, b);
    await rename(join(dir, 'next.json'), path);
    expect((await v.verify(tokenA)).subject).toBe('a');
    expect((await v.verify(tokenB)).subject).toBe('b');
  });

  it('refuses with 28000 while the file is broken, and recovers when it is fixed', async () => {
    const dir = await tempDir();
    const path = await writeJwks(join(dir, 'jwks.json'), a);
    const v = new IdentityVerifier({ issuers: [fileIssuer(path)] });
    const token = await sign(a);
    expect((await v.verify(token)).subject).toBe('agent:test');

    await writeFile(path, '{"keys": [');
    const broken = await expectRefused(v, token, {
      reason: 'keys_unavailable',
      sqlstate: '28000',
      clientMessage: "token could not be verified: the issuer's keys are unavailable",
    });
    expect(broken.detail).toContain(path);
    // still broken on the next connection: a bad file is never remembered as good
    await expectRefused(v, token, { reason: 'keys_unavailable', sqlstate: '28000' });

    await writeJwks(path, a);
    expect((await v.verify(token)).subject).toBe('agent:test');
  });

  it('refuses a JWKS holding a private key', async () => {
    const dir = await tempDir();
    const { exportJWK } = await import('jose');
    const priv = { ...(await exportJWK(a.privateKey)), kid: a.kid, alg: 'EdDSA' };
    const path = join(dir, 'private.json');
    await writeFile(path, JSON.stringify({ keys: [priv] }));
    const v = new IdentityVerifier({ issuers: [fileIssuer(path)] });
    await expectRefused(v, await sign(a), { reason: 'keys_unavailable', sqlstate: '28000' });
  });

  it('preload fails on a file that is not a JWKS', async () => {
    const dir = await tempDir();
    const path = join(dir, 'bad.json');
    await writeFile(path, JSON.stringify({ not: 'a jwks' }));
    await expect(new IdentityVerifier({ issuers: [fileIssuer(path)] }).preload()).rejects.toBeInstanceOf(IdentityConfigError);
  });
});

describe('jwks_url', () => {
  let server: Server;
  let url: string;
  let fetches = 0;
  let status = 200;
  let current: object = {};

  beforeAll(async () => {
    current = jwks(a);
    server = createServer((req, res) => {
      if (req.url !== '/.well-known/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      fetches++;
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? JSON.stringify(current) : 'oops');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const urlIssuer = (over: Partial<IssuerConfig> = {}): IssuerConfig => ({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwks_url: url,
    algorithms: ['EdDSA', 'ES256'],
    ...over,
  });
  const reset = (keys: TestKey[]) => {
    current = jwks(...keys);
    fetches = 0;
    status = 200;
  };

  it('fetches once and serves later verifications from the cache', async () => {
    reset([a]);
    const v = new IdentityVerifier({ issuers: [urlIssuer()] });
    expect(fetches).toBe(0); // lazily
    const tokens = await Promise.all([1, 2, 3].map((i) => sign(a, { sub: `s${i}` })));
    const identities = await Promise.all(tokens.map((t) => v.verify(t))); // concurrent first use shares one fetch
    expect(identities.map((i) => i.subject)).toEqual(['s1', 's2', 's3']);
    for (const t of tokens) await v.verify(t);
    expect(fetches).toBe(1);
  });

  it('does not refetch for an unknown kid within the cooldown', async () => {
    reset([a]);
    const v = new IdentityVerifier({ issuers: [urlIssuer()] }); // default cooldown 30s
    await v.verify(await sign(a));
    current = jwks(a, b);
    await expectRefused(v, await sign(b), { reason: 'unknown_key', sqlstate: '28P01' });
    await expectRefused(v, await sign(b), { reason: 'unknown_key', sqlstate: '28P01' });
    expect(fetches).toBe(1);
  });

  it('refetches for an unknown kid once the cooldown has passed (key rotation)', async () => {
    reset([a]);
    const v = new IdentityVerifier({ issuers: [urlIssuer({ jwks_cooldown_seconds: 0 })] });
    await v.verify(await sign(a));
    current = jwks(a, b);
    expect((await v.verify(await sign(b, { sub: 'rotated' }))).subject).toBe('rotated');
    expect(fetches).toBe(2);
    await v.verify(await sign(b));
    await v.verify(await sign(a));
    expect(fetches).toBe(2);
  });

  it('refetches after jwks_cache_seconds', async () => {
    reset([a]);
    const v = new IdentityVerifier({ issuers: [urlIssuer({ jwks_cache_seconds: 0 })] });
    await v.verify(await sign(a));
    await v.verify(await sign(a));
    expect(fetches).toBe(2);
  });

  it('refuses with 28000 when the JWKS endpoint fails', async () => {
    reset([a]);
    status = 500;
    const v = new IdentityVerifier({ issuers: [urlIssuer()] });
    const err = await expectRefused(v, await sign(a), { reason: 'keys_unavailable', sqlstate: '28000' });
    expect(err.detail).toContain(url);
    await expect(v.preload({ remote: true })).rejects.toBeInstanceOf(IdentityConfigError);
    status = 200;
    await expect(v.preload({ remote: true })).resolves.toBeUndefined();
    expect((await v.verify(await sign(a))).subject).toBe('agent:test');
  });

  it('refuses with 28000 when nothing listens', async () => {
    const v = new IdentityVerifier({ issuers: [urlIssuer({ jwks_url: 'http://127.0.0.1:1/jwks', jwks_timeout_seconds: 2 })] });
    await expectRefused(v, await sign(a), { reason: 'keys_unavailable', sqlstate: '28000' });
  });
});
