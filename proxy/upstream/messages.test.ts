import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { md5PasswordResponse } from './auth.js';
import { UpstreamError } from './errors.js';
import { sanitizeStartupParams, serializeStartupMessage } from './messages.js';

describe('startup parameters', () => {
  it('drops what the gateway owns or cannot forward', () => {
    const { params, dropped } = sanitizeStartupParams({
      user: 'x',
      database: 'y',
      replication: 'true',
      '_pq_.command_marker': '1',
      application_name: 'psql',
      'evil\0key': 'v',
      options: 'a\0user\0postgres',
      client_encoding: 'LATIN1',
    });
    expect(params).toEqual({ application_name: 'psql', client_encoding: 'LATIN1' });
    expect(dropped.sort()).toEqual(['_pq_.command_marker', 'database', 'evil\0key', 'options', 'replication', 'user']);
  });

  it('serializes exactly the given parameters, in order (no client_encoding added)', () => {
    const b = serializeStartupMessage({ user: 'r', database: 'd', application_name: 'é' });
    expect(b.readInt32BE(0)).toBe(b.length);
    expect(b.readInt32BE(4)).toBe(196608);
    expect(b.subarray(8).toString('utf8')).toBe('user\0r\0database\0d\0application_name\0é\0\0');
  });

  it('refuses NUL bytes and packets PostgreSQL would refuse', () => {
    expect(() => serializeStartupMessage({ user: 'a\0b' })).toThrow(UpstreamError);
    expect(() => serializeStartupMessage({ options: 'x'.repeat(10_000) })).toThrow(/exceeds/);
  });
});

describe('md5', () => {
  it("matches node-postgres's independent implementation", () => {
    const utils = createRequire(import.meta.url)('pg/lib/crypto/utils') as {
      postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string> | string;
    };
    const salt = Buffer.from([1, 2, 3, 250]);
    return Promise.resolve(utils.postgresMd5PasswordHash('md5_user', 'pä55', salt)).then((expected) => {
      expect(md5PasswordResponse('md5_user', 'pä55', salt)).toBe(expected);
    });
  });
});
