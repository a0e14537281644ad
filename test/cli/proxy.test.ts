// `auditgate proxy` refuses to start on an invalid config, naming the file, line and key.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

describe('auditgate proxy', () => {
  it('does not start with an invalid config and says where the problem is', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'auditgate-badcfg-'));
    const file = join(dir, 'auditgate.yaml');
    await writeFile(file, ['listen:', '  prot: 7000', 'identity:', '  dev_issuer: true', 'upstream:', '  host: 127.0.0.1', '  roles: {}', ''].join('\n'));
    const r = await runCli(['proxy', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid configuration, the gateway did not start/);
    expect(r.stderr).toMatch(/auditgate\.yaml:2: listen\.prot: unknown key \(did you mean "port"\?\)/);
  });

  it('validates command-line overrides too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'auditgate-badflag-'));
    const file = join(dir, 'auditgate.yaml');
    await writeFile(
      file,
      [
        'identity: {dev_issuer: true}',
        'upstream:',
        '  roles: {auditgate_reader: {user: auditgate_reader, password: null}}',
        '  catalog_role: auditgate_reader',
        '',
      ].join('\n'),
    );
    const r = await runCli(['proxy', '--config', file, '--listen.port', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/listen\.port \(set by --listen\.port\): must be an integer/);
  });
});
