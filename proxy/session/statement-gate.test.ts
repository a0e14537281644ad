// Deciding SQL with the default policy, and reusing decisions only where that is safe.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Identity, SessionInfo } from '../../policies/contract.js';
import { buildBundle } from '../../policies/build.js';
import { PolicyEngine } from '../../policies/engine/engine.js';
import { PACKAGE_ROOT } from '../../policies/locations.js';
import { alwaysOpenBundle } from '../../test/support/always-open-bundle.js';
import { loadAnalyzer } from '../analysis/index.js';
import { DecisionCache, sessionContextKey } from './decision-cache.js';
import { decideSql, type GateContext, type Verdict } from './statement-gate.js';

const agent: Identity = {
  subject: 'agent:t',
  issuer: 'https://auditgate.dev/dev-issuer',
  groups: ['agents', 'agent-writers'],
  kind: 'agent',
  claims: { model: 'm', repository: 'r' },
};
const session: SessionInfo = {
  id: 's1',
  client_address: '127.0.0.1',
  application_name: 't',
  database: 'app',
  target: 'default',
  environment: 'production',
  upstream_role: 'auditgate_writer',
  read_only: false,
};
let engine: PolicyEngine;
const simple = { protocol: 'simple' as const, inTransaction: false };

beforeAll(async () => {
  await loadAnalyzer();
  // The default policy with its change window open around the clock: the outcomes below must not depend on the hour.
  engine = await PolicyEngine.fromFile(await alwaysOpenBundle());
});

/** A one-rule policy whose decisions say `cacheable` but nothing of literals (built with opa). */
async function minimalBundle(): Promise<string> {
  const out = join(await mkdtemp(join(tmpdir(), 'gate-minimal-')), 'minimal.tar.gz');
  await buildBundle({ dir: join(PACKAGE_ROOT, 'test', 'fixtures', 'policies', 'minimal'), out });
  return out;
}

function ctx(cache = new DecisionCache<Verdict>(100), s: SessionInfo = session): GateContext & { cache: DecisionCache<Verdict> } {
  return { engine, identity: agent, session: s, cache, contextKey: sessionContextKey(agent, s) };
}

describe('decideSql', () => {
  it('denies a string when any statement is denied, with every reason', () => {
    const v = decideSql(ctx(), 'SELECT 1; GRANT ALL ON public.customers TO PUBLIC', simple);
    expect(v.outcome).toBe('deny');
    expect(v.facts).toHaveLength(2);
    expect(v.refusal).toMatch(/^auditgate: denied: GRANT/);
  });

  it('turns a required approval into a denial until approvals exist', () => {
    const v = decideSql(ctx(), "UPDATE public.orders SET status = 'x' WHERE id = 1", simple);
    expect(v.outcome).toBe('approval');
    expect(v.refusal).toMatch(/^auditgate: denied: approval required: UPDATE on production table public\.orders/);
  });

  it('reuses a cacheable decision for the same text and session attributes', () => {
    const c = ctx();
    const first = decideSql(c, 'SELECT id FROM public.orders WHERE id = $1', { ...simple, protocol: 'extended' });
    const second = decideSql(c, 'SELECT id FROM public.orders WHERE id = $1', { ...simple, protocol: 'extended' });
    expect(second).toBe(first);
    expect(c.cache.hits).toBe(1);
    // Another session with the same attributes shares it; other attributes do not.
    const other = ctx(c.cache, { ...session, id: 's2' });
    expect(decideSql(other, 'SELECT id FROM public.orders WHERE id = $1', { ...simple, protocol: 'extended' })).toBe(first);
    const reader = ctx(c.cache, { ...session, upstream_role: 'auditgate_reader', read_only: true });
    expect(decideSql(reader, 'SELECT id FROM public.orders WHERE id = $1', { ...simple, protocol: 'extended' })).not.toBe(first);
  });

  it('shares a decision among statements that differ only in constants, each with its own text', () => {
    const c = ctx();
    const first = decideSql(c, 'SELECT id, status FROM public.orders WHERE id = 1', simple);
    const second = decideSql(c, "SELECT id, status FROM public.orders WHERE id = 2;  ", simple);
    expect(first.outcome).toBe('allow');
    expect(c.cache.size).toBe(1);
    expect(second.decisions).toBe(first.decisions); // not evaluated again
    expect(second.facts[0]!.sql).toBe('SELECT id, status FROM public.orders WHERE id = 2');
    expect(first.facts[0]!.sql).toBe('SELECT id, status FROM public.orders WHERE id = 1');
    // The shape keeps every identifier: another table is another decision.
    const customers = decideSql(c, 'SELECT id, status FROM public.customers WHERE id = 2', simple);
    expect(customers.decisions).not.toBe(first.decisions);
    expect(c.cache.size).toBe(2);
  });

  it('decides on the exact text where a constant can change the facts or the policy read one', () => {
    const c = ctx();
    // SET ROLE's role is a literal the policy decides on (ignores_literals false): never shared.
    const postgres = decideSql(c, 'SET ROLE postgres', simple);
    const none = decideSql(c, 'SET ROLE NONE', simple);
    expect(postgres.outcome).toBe('deny');
    expect(none.decisions).not.toBe(postgres.decisions);
    // LIMIT 5 and LIMIT ALL have the same shape, not the same has_limit.
    const limited = decideSql(c, 'SELECT id FROM public.orders LIMIT 5', simple);
    const all = decideSql(c, 'SELECT id FROM public.orders LIMIT ALL', simple);
    expect(limited.facts[0]!.has_limit).toBe(true);
    expect(all.facts[0]!.has_limit).toBe(false);
    // Several statements in one string, and the extended protocol, are decided on their text.
    const two = decideSql(c, 'SELECT 1; SELECT 2', simple);
    expect(decideSql(c, 'SELECT 3; SELECT 4', simple).decisions).not.toBe(two.decisions);
    const p1 = decideSql(c, 'SELECT id FROM public.orders WHERE id = 1', { ...simple, protocol: 'extended' });
    expect(decideSql(c, 'SELECT id FROM public.orders WHERE id = 2', { ...simple, protocol: 'extended' }).decisions).not.toBe(p1.decisions);
  });

  it('shares nothing by shape when the policy does not say its decision ignores literals', async () => {
    const minimal = await PolicyEngine.fromFile(await minimalBundle());
    const c = { ...ctx(), engine: minimal };
    const a = decideSql(c, 'SELECT 1', simple);
    const b = decideSql(c, 'SELECT 2', simple);
    expect(a.cacheable).toBe(true);
    expect(b.decisions).not.toBe(a.decisions);
    expect(decideSql(c, 'SELECT 1', simple)).toBe(a); // the exact text still hits
  });

  it('does not cache decisions that read the clock or depend on prepared statements', () => {
    const c = ctx();
    decideSql(c, "UPDATE public.orders SET status = 'x' WHERE id = 1", simple);
    expect(c.cache.size).toBe(0); // the change window read input.time
    decideSql(c, 'PREPARE p AS SELECT 1', { ...simple, prepared: new Map() });
    decideSql(c, 'EXECUTE p', { ...simple, prepared: new Map() });
    expect(c.cache.size).toBe(0);
  });

  it('keys by a number per context and bundle: a bundle reload in the same session shares nothing with the old bundle', async () => {
    const c = ctx();
    const sql = 'SELECT id FROM public.orders WHERE id = $1';
    const extended = { ...simple, protocol: 'extended' as const };
    const first = decideSql(c, sql, extended);
    expect(decideSql(c, sql, extended)).toBe(first);
    // The engine now runs another bundle (as after a reload): the session's key changes with it.
    c.engine = await PolicyEngine.fromFile(await minimalBundle());
    const after = decideSql(c, sql, extended);
    expect(after).not.toBe(first);
    expect(c.contextMemo?.bundle).toBe(c.engine.bundleSha256);
  });

  it('gives each context its own number, the same one while it is known, and never an old number to a new context', () => {
    const cache = new DecisionCache<number>(2);
    const a = cache.contextId('a');
    expect(cache.contextId('a')).toBe(a);
    const b = cache.contextId('b');
    expect(b).not.toBe(a);
    const c = cache.contextId('c'); // the table was full: it starts afresh
    expect(new Set([a, b, c]).size).toBe(3);
    const again = cache.contextId('a'); // forgotten: a new number, not a reused one
    expect([b, c]).not.toContain(again);
  });

  it('evicts the least recently used entry beyond its bound', () => {
    const cache = new DecisionCache<number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.get('a');
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
  });
});
