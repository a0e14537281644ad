// The capabilities file turns "fails in production" into "fails at build".
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBundle, policyLayout } from './build.js';
import { OpaCommandError } from './opa.js';

const fixtures = join(import.meta.dirname, '..', 'test', 'fixtures', 'policies');

describe('buildBundle', () => {
  it('refuses a builtin the wasm SDK cannot run, naming it', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'auditgate-caps-')), 'b.tar.gz');
    const err = await buildBundle({ dir: join(fixtures, 'uses-time'), out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpaCommandError);
    expect((err as Error).message).toMatch(/undefined function time\.now_ns/);
  });

  it('uses the policy folder\'s own capabilities file, else auditgate\'s', () => {
    expect(policyLayout(join(fixtures, 'minimal')).capabilities).toMatch(/policies\/capabilities\.json$/);
    expect(() => policyLayout(join(fixtures, 'nope'))).toThrow(/has no rego\/ folder/);
  });
});
