import { describe, expect, it } from 'vitest';
import { DetectorSet, entropy, wordShare, jwtHeaderValid, looksLikeSecretToken, luhnValid, scanAndRedact, ssnValid } from './detectors.js';

const ALL = ['email', 'card_number', 'ssn', 'api_key', 'jwt', 'private_key'];

function jwtOf(header: object, payload: object): string {
  const b = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b(header)}.${b(payload)}.c2lnbmF0dXJlLWJ5dGVz`;
}

describe('email', () => {
  it('matches addresses and counts them', () => {
    const r = scanAndRedact('contact ann@acme.com or bob.smith+x@mail.example.co.uk.', ['email']);
    expect(r.text).toBe('contact [redacted:email] or [redacted:email].');
    expect(r.hits).toEqual({ email: 2 });
  });
  it('leaves text without an address alone', () => {
    expect(scanAndRedact('user @ host, a@b, x@localhost', ['email']).hits).toEqual({});
  });
  it('stays linear on long runs without a domain', () => {
    const s = 'a'.repeat(200_000) + '@';
    const t = Date.now();
    expect(scanAndRedact(s, ['email']).hits).toEqual({});
    expect(Date.now() - t).toBeLessThan(500);
  });
});

describe('card_number', () => {
  it('Luhn', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('378282246310005')).toBe(true);
  });
  it('matches Luhn-valid numbers with spaces or dashes', () => {
    const r = scanAndRedact('visa 4111 1111 1111 1111, amex 3782-822463-10005, mc 5555555555554444', ['card_number']);
    expect(r.text).toBe('visa [redacted:card_number], amex [redacted:card_number], mc [redacted:card_number]');
    expect(r.hits).toEqual({ card_number: 3 });
  });
  it('finds a card followed by other digit groups', () => {
    expect(scanAndRedact('4111 1111 1111 1111 2030', ['card_number']).text).toBe('[redacted:card_number] 2030');
  });
  it('Luhn negatives and non-card prefixes are left alone', () => {
    expect(scanAndRedact('4111 1111 1111 1112', ['card_number']).hits).toEqual({}); // Luhn fails
    expect(scanAndRedact('1700000000000', ['card_number']).hits).toEqual({}); // epoch ms, starts with 1
    expect(scanAndRedact('000000000000000000', ['card_number']).hits).toEqual({});
    expect(scanAndRedact('123456789012', ['card_number']).hits).toEqual({}); // 12 digits
    expect(scanAndRedact('41111111111111111111', ['card_number']).hits).toEqual({}); // 20 digits
    expect(scanAndRedact('order 42 of 7', ['card_number']).hits).toEqual({});
  });
});

describe('ssn', () => {
  it('matches valid SSNs', () => {
    const r = scanAndRedact('ssn 123-45-6789 and 078 05 1120', ['ssn']);
    expect(r.text).toBe('ssn [redacted:ssn] and [redacted:ssn]');
  });
  it('excludes invalid areas, groups and serials', () => {
    expect(ssnValid('000', '12', '3456')).toBe(false);
    expect(ssnValid('666', '12', '3456')).toBe(false);
    expect(ssnValid('912', '12', '3456')).toBe(false);
    expect(ssnValid('123', '00', '3456')).toBe(false);
    expect(ssnValid('123', '45', '0000')).toBe(false);
    expect(scanAndRedact('000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000', ['ssn']).hits).toEqual({});
  });
  it('does not match inside longer numbers or mixed separators', () => {
    expect(scanAndRedact('1123-45-6789 123-45-67890 123-45 6789 2024-01-15', ['ssn']).hits).toEqual({});
  });
});

describe('api_key', () => {
  it('matches well-known prefixes', () => {
    const keys = [
      'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
      'sk_test_51H8abcdEFGHijklMNOPqrst',
      'AKIAIOSFODNN7EXAMPLE',
      'ghp_16C7e42F292c6912E7710c838347Ae178B4a',
      'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz',
      'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
      'glpat-xxxxXXXXxxxx12345678',
      'sk-proj-abcdefghijklmnopqrstuvwxyz012345',
    ];
    for (const k of keys) {
      const r = scanAndRedact(`key=${k};`, ['api_key']);
      expect(r.text, k).toBe('key=[redacted:api_key];');
    }
  });
  it('matches long high-entropy tokens', () => {
    const tok = 'Zx8Qk2Lm9Vb4Np7Rt1Wy6Hc3Jd5Fg0SaEuIoPq';
    expect(looksLikeSecretToken(tok)).toBe(true);
    expect(scanAndRedact(`token: ${tok}`, ['api_key']).text).toBe('token: [redacted:api_key]');
  });
  it('does not flag UUIDs, hex digests, identifiers or paths', () => {
    const fine = [
      '550e8400-e29b-41d4-a716-446655440000',
      '550E8400-E29B-41D4-A716-446655440000',
      'd41d8cd98f00b204e9800998ecf8427e', // md5
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', // sha256
      'getCustomerLifetimeValueForAccount2024', // camelCase words
      'AbstractSingletonProxyFactoryBean12',
      'ABCD1234EFGH5678IJKL9012MNOP3456QRST', // no lower case
      '/usr/local/lib/node_modules/some-package/dist/index.js',
      'customer_lifetime_value_rolling_average_30_days',
    ];
    for (const f of fine) expect(scanAndRedact(f, ['api_key']).hits, f).toEqual({});
    expect(entropy('aaaa')).toBe(0);
    expect(wordShare('AbstractSingletonProxyFactoryBean12')).toBeGreaterThan(0.5);
  });
});

describe('jwt', () => {
  it('matches a token whose header is JSON with alg', () => {
    const t = jwtOf({ alg: 'HS256', typ: 'JWT' }, { sub: '1234567890' });
    expect(scanAndRedact(`Bearer ${t}`, ['jwt']).text).toBe('Bearer [redacted:jwt]');
  });
  it('ignores three-part strings that are not JWTs', () => {
    const notJwt = `${Buffer.from('{"typ":"x"}').toString('base64url')}.abcdef.ghijkl`;
    expect(jwtHeaderValid(notJwt.split('.')[0]!)).toBe(false);
    expect(scanAndRedact(notJwt, ['jwt']).hits).toEqual({});
    expect(scanAndRedact('eyJhbGciOi.not.json', ['jwt']).hits).toEqual({});
  });
});

describe('private_key', () => {
  it('redacts whole PEM blocks, also unterminated ones', () => {
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----';
    expect(scanAndRedact(`a ${pem} b`, ['private_key']).text).toBe('a [redacted:private_key] b');
    expect(scanAndRedact('-----BEGIN PRIVATE KEY-----\nMIIEv', ['private_key']).text).toBe('[redacted:private_key]');
    expect(scanAndRedact('-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----', ['private_key']).hits).toEqual({ private_key: 1 });
    expect(scanAndRedact('-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----', ['private_key']).hits).toEqual({});
  });
});

describe('detector sets', () => {
  it('runs only the named detectors, ignores unknown names', () => {
    const s = new DetectorSet(['email', 'nope']);
    expect(s.names).toEqual(['email']);
    expect(s.unknown).toEqual(['nope']);
    const hits = {};
    expect(s.redact('ann@acme.com 123-45-6789', hits)).toBe('[redacted:email] 123-45-6789');
  });
  it('all detectors together', () => {
    const t = jwtOf({ alg: 'none' }, { a: 1 });
    const r = scanAndRedact(`ann@acme.com 4111-1111-1111-1111 123-45-6789 AKIAIOSFODNN7EXAMPLE ${t}`, ALL);
    expect(r.text).toBe('[redacted:email] [redacted:card_number] [redacted:ssn] [redacted:api_key] [redacted:jwt]');
    expect(r.hits).toEqual({ email: 1, card_number: 1, ssn: 1, api_key: 1, jwt: 1 });
  });
  it('fast path returns the same string when nothing matches', () => {
    const s = 'plain value 42';
    expect(scanAndRedact(s, ALL).text).toBe(s);
  });
});
