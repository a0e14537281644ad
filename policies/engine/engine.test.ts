// The engine against real wasm bundles built by opa from fixtures: every failure is a deny.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../build.js';
import type { Identity, StatementInput } from '../contract.js';
import { emptyFacts } from '../../proxy/analysis/facts.js';
import { PolicyEngine } from './engine.js';
import { PolicyError } from './errors.js';
import { parseBundle } from './bundle.js';

const fixtures = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'policies');
const identity: Identity = { subject: 'agent:t', issuer: 'https://idp.test', groups: [], kind: 'agent', claims: {} };
const session = { id: 's', client_address: '127.0.0.1', application_name: 't', database: 'app', target: 'default', environment: 'test' };
const time = { now: '2026-01-05T10:00:00Z', hour: 10, weekday: 'monday' };
const stmt = (kind: string, sql = 'x'): StatementInput => ({
  identity,
  session,
  time,
  statement: { ...emptyFacts(sql), kind: kind as StatementInput['statement']['kind'] },
  approval: null,
});

let dir: string;
let minimal: string;
let unrestricted: string;
let malformed: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-engine-'));
  minimal = join(dir, 'minimal.tar.gz');
  unrestricted = join(dir, 'unrestricted.tar.gz');
  malformed = join(dir, 'malformed.tar.gz');
  await buildBundle({
    dir: join(fixtures, 'minimal'),
    out: minimal,
    extraEntrypoints: ['auditgate/malformed', 'auditgate/conflict', 'auditgate/big'],
  });
  await buildBundle({ dir: join(fixtures, 'unrestricted'), out: unrestricted, capabilities: null });
  await buildBundle({ dir: join(fixtures, 'malformed'), out: malformed });
});

describe('PolicyEngine', () => {
  it('evaluates both decisions by entrypoint name and records the bundle sha256', async () => {
    const engine = await PolicyEngine.fromFile(minimal);
    expect(engine.bundleSha256).toBe(createHash('sha256').update(await readFile(minimal)).digest('hex'));
    expect(engine.decideConnect({ identity, session, time })).toMatchObject({ allow: true, upstream_role: 'reader' });
    expect(engine.decideStatement(stmt('select'))).toMatchObject({ allow: true, deny: [] });
    expect(engine.decideStatement(stmt('delete'))).toMatchObject({ allow: false, deny: ['deletes are not allowed'] });
    expect(engine.evaluate('auditgate/statement', stmt('delete'))).toMatchObject({ allow: false });
  });

  it('denies a connect the policy refuses, with its reason', async () => {
    const engine = await PolicyEngine.fromFile(minimal);
    const d = engine.decideConnect({ identity: { ...identity, kind: 'human' }, session, time });
    expect(d).toMatchObject({ allow: false, deny: ['only agents may connect'] });
  });

  it('refuses corrupt bundles with typed errors', async () => {
    await expect(PolicyEngine.fromBytes(Buffer.from('not a bundle at all'))).rejects.toMatchObject({ code: 'bundle_corrupt' });
    const good = await readFile(minimal);
    await expect(PolicyEngine.fromBytes(good.subarray(0, good.length / 2))).rejects.toMatchObject({ code: 'bundle_corrupt' });
    await expect(PolicyEngine.fromFile(join(dir, 'missing.tar.gz'))).rejects.toMatchObject({ code: 'bundle_unreadable' });
  });

  it('refuses a bundle without policy.wasm or with broken data.json', async () => {
    const bundle = await parseBundle(await readFile(minimal));
    const { pack } = await import('tar-stream');
    const tarOf = async (files: Record<string, Buffer>) => {
      const p = pack();
      for (const [name, body] of Object.entries(files)) p.entry({ name }, body);
      p.finalize();
      const chunks: Buffer[] = [];
      for await (const c of p) chunks.push(c as Buffer);
      return gzipSync(Buffer.concat(chunks));
    };
    await expect(PolicyEngine.fromBytes(await tarOf({ '/data.json': Buffer.from('{}') }))).rejects.toMatchObject({
      code: 'bundle_invalid',
    });
    const wasm = bundle.files.get('policy.wasm')!;
    await expect(
      PolicyEngine.fromBytes(await tarOf({ '/policy.wasm': wasm, '/data.json': Buffer.from('{not json') })),
    ).rejects.toMatchObject({ code: 'bundle_invalid' });
    await expect(
      PolicyEngine.fromBytes(await tarOf({ '/policy.wasm': Buffer.from('\0asm garbage') })),
    ).rejects.toMatchObject({ code: 'bundle_invalid' });
  });

  it('names the entrypoints a bundle has when asked for a missing one', async () => {
    const engine = await PolicyEngine.fromFile(minimal);
    expect(() => engine.evaluate('auditgate/nope', {})).toThrow(PolicyError);
    expect(() => engine.evaluate('auditgate/nope', {})).toThrow(/no entrypoint "auditgate\/nope".*auditgate\/statement/);
  });

  it('denies oversize input without evaluating it', async () => {
    const engine = await PolicyEngine.fromFile(minimal, { maxInputBytes: 4096 });
    const d = engine.decideStatement(stmt('select', 'select 1 -- ' + 'x'.repeat(5000)));
    expect(d.allow).toBe(false);
    expect(d.error?.code).toBe('input_too_large');
    expect(d.deny[0]).toMatch(/over the 4096-byte limit/);
    expect(engine.decideStatement(stmt('select'))).toMatchObject({ allow: true });
  });

  it('turns an SDK exception (builtin missing in wasm) into a deny', async () => {
    const engine = await PolicyEngine.fromFile(unrestricted);
    const d = engine.decideStatement(stmt('select'));
    expect(d).toMatchObject({ allow: false, tags: ['policy_error'], cacheable: false });
    expect(d.error?.code).toBe('evaluation_failed');
    expect(d.deny[0]).toMatch(/not implemented: built-in function .*time\.now_ns/);
  });

  it('turns an evaluation abort into a typed error and keeps working afterwards', async () => {
    const engine = await PolicyEngine.fromFile(minimal);
    expect(() => engine.evaluate('auditgate/conflict', { a: true, b: true })).toThrow(/conflict/);
    expect(engine.evaluate('auditgate/conflict', { a: true })).toBe(1);
    expect(engine.decideStatement(stmt('select'))).toMatchObject({ allow: true });
  });

  it('bounds wasm memory: running out is a typed error, then a fresh instance serves', async () => {
    const engine = await PolicyEngine.fromFile(minimal, { memory: { initial: 2, maximum: 8 } });
    let caught: unknown;
    try {
      engine.evaluate('auditgate/big', { n: 1_000_000 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PolicyError);
    expect((caught as PolicyError).code).toBe('out_of_memory');
    expect(engine.decideStatement(stmt('delete')).deny).toEqual(['deletes are not allowed']);
  });

  it('denies a decision that does not match the contract', async () => {
    const engine = await PolicyEngine.fromFile(malformed);
    const s = engine.decideStatement(stmt('select'));
    expect(s).toMatchObject({ allow: false });
    expect(s.error?.code).toBe('malformed_decision');
    expect(s.deny[0]).toMatch(/does not match the contract/);
    const c = engine.decideConnect({ identity, session, time });
    expect(c).toMatchObject({ allow: false, upstream_role: null });
    expect(c.error?.code).toBe('malformed_decision');
  });

  it('reload swaps to a changed bundle and keeps the old one when the new one is bad', async () => {
    const copy = join(dir, 'live.tar.gz');
    await writeFile(copy, await readFile(minimal));
    const engine = await PolicyEngine.fromFile(copy);
    const before = engine.bundleSha256;
    expect(await engine.reload()).toBe(false);

    await writeFile(copy, Buffer.from('corrupt'));
    await expect(engine.reload()).rejects.toMatchObject({ code: 'bundle_corrupt' });
    expect(engine.bundleSha256).toBe(before);
    expect(engine.decideStatement(stmt('delete')).deny).toEqual(['deletes are not allowed']);

    await writeFile(copy, await readFile(unrestricted));
    expect(await engine.reload()).toBe(true);
    expect(engine.bundleSha256).not.toBe(before);
    expect(engine.decideStatement(stmt('select')).error?.code).toBe('evaluation_failed');
  });
});
