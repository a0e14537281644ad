import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { CompactSign, exportSPKI, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuthError, IdentityConfigError, IdentityVerifier, type IdentityConfig, type IssuerConfig } from './verifier.js';
import { MAX_TOKEN_BYTES } from './config.js';
import { AUDIENCE, b64json, expectRefused, ISSUER, makeKey, now, sign, tempDir, writeJwks, type TestKey } from './identity.fixtures.js';

let dir: string;
let ed: TestKey;
let rsa: TestKey;
let other: TestKey; // a key of a second trusted issuer
let stranger: TestKey; // in no JWKS
let jwksPath: string;
let verifier: IdentityVerifier;
const OTHER_ISSUER = 'https://other-idp.acme.test';

const issuer = (over: Partial<IssuerConfig> = {}): IssuerConfig => ({
  issuer: ISSUER,
  audience: AUDIENCE,
  jwks_file: jwksPath,
  algorithms: ['EdDSA', 'RS256'],
  ...over,
});

beforeAll(async () => {
  dir = await tempDir();
  [ed, rsa, other, stranger] = await Promise.all([makeKey('EdDSA'), makeKey('RS256'), makeKey('ES256'), makeKey('EdDSA')]);
  jwksPath = await writeJwks(join(dir, 'jwks.json'), ed, rsa);
  await writeJwks(join(dir, 'other.json'), other);
  verifier = new IdentityVerifier({
    issuers: [issuer(), { issuer: OTHER_ISSUER, audience: ['gw', AUDIENCE], jwks_file: join(dir, 'other.json'), algorithms: ['ES256'] }],
  });
});

describe('valid tokens become identities', () => {
  it('maps subject, issuer, groups (array), default kind and only the provenance claims', async () => {
    const token = await sign(ed, {
      sub: 'agent:claude@acme',
      groups: ['agents', 'agent-writers'],
      model: 'claude-sonnet-4',
      repository: 'acme/shop',
      ticket: 'OPS-42',
      email: 'not-copied@acme.test',
      scope: 'openid',
    });
    expect(await verifier.verify(token)).toStrictEqual({
      subject: 'agent:claude@acme',
      issuer: ISSUER,
      groups: ['agents', 'agent-writers'],
      kind: 'agent',
      claims: { model: 'claude-sonnet-4', repository: 'acme/shop', ticket: 'OPS-42' },
    });
  });

  it('accepts groups as a space/comma separated string and an explicit kind', async () => {
    const token = await sign(ed, { groups: 'dba-oncall, humans  readers,,dba-oncall', auditgate_kind: 'human', agent: 'cli', session: 's-1' });
    const identity = await verifier.verify(token);
    expect(identity.groups).toEqual(['dba-oncall', 'humans', 'readers']);
    expect(identity.kind).toBe('human');
    expect(identity.claims).toStrictEqual({ agent: 'cli', session: 's-1' });
  });

  it('gives no groups and the default kind when the claims are absent', async () => {
    const identity = await verifier.verify(await sign(ed));
    expect(identity).toStrictEqual({ subject: 'agent:test', issuer: ISSUER, groups: [], kind: 'agent', claims: {} });
  });

  it('verifies RS256 from the same JWKS and an issuer with several audiences', async () => {
    expect((await verifier.verify(await sign(rsa, { sub: 'rsa-user' }))).subject).toBe('rsa-user');
    const t = await sign(other, { iss: OTHER_ISSUER, aud: ['gw'], sub: 'o' });
    expect(await verifier.verify(t)).toMatchObject({ subject: 'o', issuer: OTHER_ISSUER });
  });

  it('follows a custom claim mapping', async () => {
    const v = new IdentityVerifier({
      issuers: [issuer()],
      claims: { subject: 'email', groups: 'roles', kind: 'principal_type', default_kind: 'human', provenance: ['model', 'clearance'] },
    });
    const t = await sign(ed, { email: 'alice@acme.test', roles: 'dba', model: 'm', clearance: 'pii', repository: 'not-copied' });
    expect(await v.verify(t)).toStrictEqual({
      subject: 'alice@acme.test',
      issuer: ISSUER,
      groups: ['dba'],
      kind: 'human',
      claims: { model: 'm', clearance: 'pii' },
    });
    await expectRefused(v, await sign(ed, { email: 'a@b', principal_type: 'robot' }), {
      reason: 'malformed_claim',
      sqlstate: '28P01',
      clientMessage: 'invalid token: malformed principal_type claim',
    });
    // the configured subject claim is required, not `sub`
    await expectRefused(v, await sign(ed), { reason: 'missing_subject', sqlstate: '28P01' });
  });

  it('tolerates surrounding whitespace (a password file with a newline)', async () => {
    expect((await verifier.verify(`${await sign(ed)}\n`)).subject).toBe('agent:test');
  });

  it('tries every key when several match a kid-less header (rotation without kids)', async () => {
    const [a, b] = await Promise.all([makeKey('EdDSA', { kid: null }), makeKey('EdDSA', { kid: null })]);
    const v = new IdentityVerifier({ issuers: [issuer({ jwks_file: await writeJwks(join(dir, 'nokid.json'), a, b) })] });
    expect((await v.verify(await sign(b, { sub: 'second' }))).subject).toBe('second');
    expect((await v.verify(await sign(a, { sub: 'first' }))).subject).toBe('first');
    const c = await makeKey('EdDSA', { kid: null });
    await expectRefused(v, await sign(c), { reason: 'signature_invalid', sqlstate: '28P01' });
  });
});

describe('time', () => {
  it('refuses an expired token, beyond the clock tolerance only', async () => {
    await expectRefused(verifier, await sign(ed, { exp: now() - 120 }), {
      reason: 'expired',
      sqlstate: '28P01',
      clientMessage: 'invalid token: expired',
    });
    expect((await verifier.verify(await sign(ed, { exp: now() - 10 }))).subject).toBe('agent:test'); // default 30s
    const strict = new IdentityVerifier({ issuers: [issuer({ clock_tolerance_seconds: 0 })] });
    await expectRefused(strict, await sign(ed, { exp: now() - 10 }), { reason: 'expired', sqlstate: '28P01' });
  });

  it('refuses a token that is not yet valid (nbf)', async () => {
    await expectRefused(verifier, await sign(ed, { nbf: now() + 300 }), {
      reason: 'not_yet_valid',
      sqlstate: '28P01',
      clientMessage: 'invalid token: not yet valid',
    });
    expect((await verifier.verify(await sign(ed, { nbf: now() + 10 }))).subject).toBe('agent:test');
  });

  it('requires exp', async () => {
    await expectRefused(verifier, await sign(ed, { exp: undefined }), {
      reason: 'missing_expiry',
      sqlstate: '28P01',
      clientMessage: 'invalid token: no expiry (exp) claim',
    });
  });

  it('refuses an exp that is not a number', async () => {
    await expectRefused(verifier, await sign(ed, { exp: 'tomorrow' }), {
      reason: 'malformed_claim',
      sqlstate: '28P01',
      clientMessage: 'invalid token: malformed exp claim',
    });
  });

  it('enforces max_token_age_seconds on iat', async () => {
    const v = new IdentityVerifier({ issuers: [issuer({ max_token_age_seconds: 600 })] });
    expect((await v.verify(await sign(ed, { iat: now() - 60 }))).subject).toBe('agent:test');
    await expectRefused(v, await sign(ed, { iat: now() - 3600 }), { reason: 'too_old', sqlstate: '28P01', clientMessage: 'invalid token: issued too long ago' });
    await expectRefused(v, await sign(ed, { iat: undefined }), { reason: 'malformed_claim', sqlstate: '28P01' });
    await expectRefused(v, await sign(ed, { iat: now() + 3600 }), { reason: 'issued_in_future', sqlstate: '28P01' });
    // without the option an old iat is fine
    expect((await verifier.verify(await sign(ed, { iat: now() - 86400 * 30 }))).subject).toBe('agent:test');
  });
});

describe('audience and issuer', () => {
  it('refuses a token for another audience, or none', async () => {
    await expectRefused(verifier, await sign(ed, { aud: 'some-other-api' }), {
      reason: 'audience_not_accepted',
      sqlstate: '28P01',
      clientMessage: 'invalid token: audience not accepted',
    });
    await expectRefused(verifier, await sign(ed, { aud: undefined }), { reason: 'audience_not_accepted', sqlstate: '28P01' });
    expect((await verifier.verify(await sign(ed, { aud: ['x', AUDIENCE] }))).subject).toBe('agent:test');
  });

  it('refuses an untrusted issuer with 28000', async () => {
    await expectRefused(verifier, await sign(ed, { iss: 'https://evil.example' }), {
      reason: 'untrusted_issuer',
      sqlstate: '28000',
      clientMessage: 'token issuer is not trusted',
    });
    // a near miss is not a match: iss is compared exactly
    await expectRefused(verifier, await sign(ed, { iss: `${ISSUER}/` }), { reason: 'untrusted_issuer', sqlstate: '28000' });
  });

  it('refuses a token without iss with 28000', async () => {
    await expectRefused(verifier, await sign(ed, { iss: undefined }), { reason: 'missing_issuer', sqlstate: '28000' });
    await expectRefused(verifier, await sign(ed, { iss: 42 }), { reason: 'missing_issuer', sqlstate: '28000' });
  });

  it('checks a token against the key set of the issuer it names, not any trusted key', async () => {
    // Signed by the other trusted issuer's key, but claiming to be ISSUER: its kid is not in ISSUER's JWKS.
    await expectRefused(verifier, await sign(other, { iss: ISSUER }, { alg: 'ES256' }), {
      reason: 'algorithm_not_accepted', // ES256 is not in ISSUER's allow-list
      sqlstate: '28P01',
    });
    // Signed by a stranger key presented under ISSUER's kid.
    await expectRefused(verifier, await sign(stranger, {}, { kid: ed.kid }), {
      reason: 'signature_invalid',
      sqlstate: '28P01',
      clientMessage: 'invalid token: signature verification failed',
    });
    // And a kid that ISSUER does not have.
    await expectRefused(verifier, await sign(stranger), { reason: 'unknown_key', sqlstate: '28P01' });
    // ISSUER's own key used for the other issuer.
    await expectRefused(verifier, await sign(ed, { iss: OTHER_ISSUER }), { reason: 'algorithm_not_accepted', sqlstate: '28P01' });
  });
});

describe('forged and malformed tokens', () => {
  it('refuses alg "none" (unsigned)', async () => {
    const payload = b64json({ iss: ISSUER, aud: AUDIENCE, sub: 'agent:test', iat: now(), exp: now() + 300 });
    for (const header of ['eyJhbGciOiJub25lIn0', b64json({ alg: 'none', typ: 'JWT' }), b64json({ alg: 'None', kid: ed.kid })]) {
      await expectRefused(verifier, `${header}.${payload}.`, {
        reason: 'algorithm_not_accepted',
        sqlstate: '28P01',
        clientMessage: 'invalid token: algorithm not accepted',
      });
    }
    expect('eyJhbGciOiJub25lIn0').toBe(b64json({ alg: 'none' }));
  });

  it('refuses HS256 signed with the issuer\'s public key material (algorithm confusion)', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    const secrets = [Buffer.from(pem), Buffer.from(JSON.stringify(rsa.jwk)), Buffer.from(rsa.jwk.n!, 'base64url'), Buffer.from(ed.jwk.x!, 'base64url')];
    for (const secret of secrets) {
      for (const kid of [rsa.kid, ed.kid]) {
        const forged = await new SignJWT({ sub: 'agent:test', groups: ['dba-oncall'] })
          .setProtectedHeader({ alg: 'HS256', kid: kid! })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(new Uint8Array(secret));
        await expectRefused(verifier, forged, { reason: 'algorithm_not_accepted', sqlstate: '28P01' });
      }
    }
    // Hand-made too, in case a library ever normalises the header.
    const body = `${b64json({ alg: 'HS256', typ: 'JWT' })}.${b64json({ iss: ISSUER, aud: AUDIENCE, sub: 'x', exp: now() + 60 })}`;
    const mac = createHmac('sha256', pem).update(body).digest('base64url');
    await expectRefused(verifier, `${body}.${mac}`, { reason: 'algorithm_not_accepted', sqlstate: '28P01' });
  });

  it('refuses a tampered payload and a tampered signature', async () => {
    const token = await sign(ed, { groups: ['agents'] });
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const elevated = b64json({ ...claims, groups: ['agents', 'dba-oncall'] });
    await expectRefused(verifier, `${h}.${elevated}.${s}`, {
      reason: 'signature_invalid',
      sqlstate: '28P01',
      clientMessage: 'invalid token: signature verification failed',
    });
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    await expectRefused(verifier, `${h}.${p}.${flipped}`, { reason: 'signature_invalid', sqlstate: '28P01' });
    await expectRefused(verifier, `${h}.${p}.`, { reason: 'signature_invalid', sqlstate: '28P01' });
    expect((await verifier.verify(token)).groups).toEqual(['agents']); // the original still verifies
  });

  it('refuses passwords that are not JWTs with 28000', async () => {
    await expectRefused(verifier, '', { reason: 'missing_token', sqlstate: '28000', clientMessage: 'a JWT is required as the password' });
    await expectRefused(verifier, '   ', { reason: 'missing_token', sqlstate: '28000' });
    for (const garbage of ['hunter2', 'a.b', 'a.b.c.d.e', 'not a jwt.at.all', `${b64json([1])}.${b64json({})}.x`, 'eyJ.eyJ.x', `${b64json({ alg: 'EdDSA' })}.${b64json('str')}.x`]) {
      await expectRefused(verifier, garbage, { reason: 'not_a_jwt', sqlstate: '28000', clientMessage: 'a JWT is required as the password' });
    }
    // @ts-expect-error: a missing password from a careless caller
    await expectRefused(verifier, undefined, { reason: 'missing_token', sqlstate: '28000' });
  });

  it('refuses tokens over 16 KiB before parsing them, and accepts up to the limit', async () => {
    const base = await sign(ed, { pad: '' });
    let near: string | undefined;
    // Each pad character adds 4/3 base64url characters; step up to the limit from just below it.
    for (let pad = Math.floor(((MAX_TOKEN_BYTES - base.length) * 3) / 4) - 6; pad < MAX_TOKEN_BYTES && !near; pad++) {
      const t = await sign(ed, { pad: 'x'.repeat(pad) });
      if (t.length > MAX_TOKEN_BYTES) break;
      if (t.length > MAX_TOKEN_BYTES - 4) near = t;
    }
    expect(near, 'a token just under the limit').toBeDefined();
    expect((await verifier.verify(near!)).subject).toBe('agent:test');

    const big = await sign(ed, { pad: 'x'.repeat(MAX_TOKEN_BYTES) });
    await expectRefused(verifier, big, { reason: 'token_too_long', sqlstate: '28000', clientMessage: 'invalid token: too long' });
    await expectRefused(verifier, 'x'.repeat(MAX_TOKEN_BYTES + 1), { reason: 'token_too_long', sqlstate: '28000' });
  });

  it('refuses a token without a subject, or with a malformed one', async () => {
    await expectRefused(verifier, await sign(ed, { sub: undefined }), {
      reason: 'missing_subject',
      sqlstate: '28P01',
      clientMessage: 'invalid token: no subject claim',
    });
    await expectRefused(verifier, await sign(ed, { sub: '' }), { reason: 'missing_subject', sqlstate: '28P01' });
    await expectRefused(verifier, await sign(ed, { sub: 42 }), { reason: 'malformed_claim', sqlstate: '28P01' });
  });

  it('refuses malformed groups and kind claims instead of guessing', async () => {
    await expectRefused(verifier, await sign(ed, { groups: ['a', 1] }), {
      reason: 'malformed_claim',
      sqlstate: '28P01',
      clientMessage: 'invalid token: malformed groups claim',
    });
    await expectRefused(verifier, await sign(ed, { groups: { admin: true } }), { reason: 'malformed_claim', sqlstate: '28P01' });
    await expectRefused(verifier, await sign(ed, { auditgate_kind: 'admin' }), {
      reason: 'malformed_claim',
      sqlstate: '28P01',
      clientMessage: 'invalid token: malformed auditgate_kind claim',
    });
  });

  it('refuses a crit header it does not understand', async () => {
    const payload = new TextEncoder().encode(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'agent:test', exp: now() + 60 }));
    const token = await new CompactSign(payload)
      .setProtectedHeader({ alg: 'EdDSA', kid: ed.kid!, crit: ['x-unknown'], 'x-unknown': 1 })
      .sign(ed.privateKey, { crit: { 'x-unknown': true } });
    await expectRefused(verifier, token, { reason: 'malformed_token', sqlstate: '28P01', clientMessage: 'invalid token: malformed' });
  });
});

describe('configuration', () => {
  const refused = (config: IdentityConfig, message: RegExp) => {
    let err: unknown;
    try {
      new IdentityVerifier(config);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IdentityConfigError);
    expect((err as Error).message).toMatch(message);
  };

  it('refuses HMAC and "none" algorithms at config time', () => {
    refused({ issuers: [issuer({ algorithms: ['HS256'] })] }, /HS256 is refused.*algorithm confusion/);
    refused({ issuers: [issuer({ algorithms: ['RS256', 'hs512'] })] }, /hs512 is refused/);
    refused({ issuers: [issuer({ algorithms: ['none'] })] }, /"none" is refused/);
    refused({ issuers: [issuer({ algorithms: ['RS1'] })] }, /RS1 is not supported/);
    refused({ issuers: [issuer({ algorithms: [] })] }, /algorithms is required/);
  });

  it('needs exactly one key source, https for remote keys, an audience and unique issuers', () => {
    refused({ issuers: [issuer({ jwks_url: 'https://idp.acme.test/jwks' })] }, /exactly one of jwks_file and jwks_url/);
    refused({ issuers: [issuer({ jwks_file: undefined })] }, /exactly one of jwks_file and jwks_url/);
    refused({ issuers: [issuer({ jwks_file: undefined, jwks_url: 'http://idp.acme.test/jwks' })] }, /must use https/);
    refused({ issuers: [issuer({ jwks_file: undefined, jwks_url: 'not a url' })] }, /not a URL/);
    refused({ issuers: [issuer({ audience: [] })] }, /audience is required/);
    refused({ issuers: [issuer({ audience: '' })] }, /audience is required/);
    refused({ issuers: [issuer(), issuer()] }, /configured twice/);
    refused({ issuers: [] }, /at least one issuer/);
    refused({ issuers: [issuer({ clock_tolerance_seconds: -1 })] }, /clock_tolerance_seconds/);
    refused({ issuers: [issuer()], claims: { default_kind: 'robot' as 'agent' } }, /default_kind/);
    refused({ issuers: [issuer()], claims: { provenance: ['model', 'exp'] } }, /registered claims/);
    expect(() => new IdentityVerifier({ issuers: [issuer({ jwks_file: undefined, jwks_url: 'http://127.0.0.1:1/jwks' })] })).not.toThrow();
    expect(() => new IdentityVerifier({ issuers: [issuer({ jwks_file: undefined, jwks_url: 'http://[::1]:1/jwks' })] })).not.toThrow();
  });

  it('lists every problem at once', () => {
    try {
      new IdentityVerifier({ issuers: [issuer({ algorithms: ['none'], audience: [] })] });
      expect.unreachable();
    } catch (err) {
      expect((err as IdentityConfigError).problems).toHaveLength(2);
    }
  });

  it('preload reports a missing JWKS file', async () => {
    const v = new IdentityVerifier({ issuers: [issuer({ jwks_file: join(dir, 'missing.json') })] });
    await expect(v.preload()).rejects.toThrow(/identity keys unavailable[\s\S]*missing\.json/);
    await expect(verifier.preload()).resolves.toBeUndefined();
  });
});

it('AuthError carries a SQLSTATE, a client message and a detail', () => {
  const e = new AuthError('expired', 'exp 1 is past');
  expect([e.sqlstate, e.clientMessage, e.detail, e.message, e.name]).toEqual(['28P01', 'invalid token: expired', 'exp 1 is past', 'invalid token: expired', 'AuthError']);
});
