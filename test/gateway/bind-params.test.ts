// Decisions on bound values: a policy that reads statement.params (and so marks its Parse-time
// decision uncacheable) is asked again at Bind, and a denial there follows error-until-Sync.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../policies/build.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';

let gw: TestGateway;
let c: pg.Client;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'auditgate-params-'));
  const { out } = await buildBundle({ dir: join(import.meta.dirname, '..', 'fixtures', 'policies', 'params'), out: join(dir, 'params.tar.gz') });
  gw = await startTestGateway({ config: { policy: { bundle: out, reload: 'off' } } });
  c = new pg.Client(gw.pgConfig(await gw.token()));
  await c.connect();
});

afterAll(async () => {
  await c?.end();
  await gw?.close();
});

describe('decisions at Bind', () => {
  it('allows or denies by the bound value, and the session goes on', async () => {
    expect((await c.query('SELECT $1::text AS v', ['fine'])).rows).toEqual([{ v: 'fine' }]);
    await expect(c.query('SELECT $1::text AS v', ['forbidden'])).rejects.toMatchObject({
      code: '42501',
      message: "auditgate: denied: the value 'forbidden' may not be queried",
    });
    expect((await c.query('SELECT $1::text AS v', ['again'])).rows).toEqual([{ v: 'again' }]);
  });

  it('decides each execution of a named prepared statement with its own values', async () => {
    const q = { name: 'by_value', text: 'SELECT $1::text AS v' };
    expect((await c.query({ ...q, values: ['one'] })).rows).toEqual([{ v: 'one' }]);
    await expect(c.query({ ...q, values: ['forbidden'] })).rejects.toMatchObject({ code: '42501' });
    expect((await c.query({ ...q, values: ['two'] })).rows).toEqual([{ v: 'two' }]);
  });

  it('does not re-decide statements without parameters', async () => {
    expect((await c.query("SELECT 'forbidden'::text AS v")).rows).toEqual([{ v: 'forbidden' }]);
  });
});
