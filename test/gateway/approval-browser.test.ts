// The whole approval path in a real browser: an agent's DELETE on a production table waits in
// its node-postgres session while an approver, signed in to the gateway's own approval page
// in headless Chromium, approves it with a comment; the DELETE then completes and its effect
// is visible in PostgreSQL. Skipped, with the reason, without playwright-core or Chromium.
import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG, directQuery, serverQuery } from '../support/fixture-db.js';
import { startTestGateway, type TestGateway } from '../support/gateway-harness.js';

const CHROMIUM = process.env.AUDITGATE_CHROMIUM ?? '/usr/bin/chromium';
const PLAYWRIGHT = 'playwright-core';
let playwright: any = null;
let skipReason = '';
try {
  playwright = await import(PLAYWRIGHT);
} catch {
  skipReason = 'playwright-core is not installed';
}
if (!skipReason && !existsSync(CHROMIUM)) skipReason = `no Chromium at ${CHROMIUM}`;

const CONTROL_DB = `auditgate_control_browser_${process.pid}`;

const admin = serverQuery;

describe.skipIf(skipReason !== '')(`a held DELETE approved in the browser${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let gw: TestGateway;
  let browser: any;
  let orderId: number;

  beforeAll(async () => {
    await admin(`DROP DATABASE IF EXISTS ${CONTROL_DB}`);
    await admin(`CREATE DATABASE ${CONTROL_DB}`);
    gw = await startTestGateway({
      config: { approvals: { mode: 'hold', store: { url: `postgres://postgres@${PG.host}:${PG.port}/${CONTROL_DB}` }, admin: { port: 0 } } },
    });
    orderId = (await directQuery("INSERT INTO public.orders (customer_id, status) VALUES (1, 'to-delete') RETURNING id")).rows[0].id as number;
    browser = await (playwright.chromium ?? playwright.default.chromium).launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await admin(`DROP DATABASE IF EXISTS ${CONTROL_DB} WITH (FORCE)`);
    await directQuery("DELETE FROM public.orders WHERE status = 'to-delete'");
  });

  it('the agent waits; the approver approves on the page; the DELETE runs and its row is gone', async () => {
    const agent = new pg.Client(gw.pgConfig(await gw.token({ sub: 'agent:cleanup', groups: ['agents', 'agent-writers'], claims: { model: 'claude-test', repository: 'acme/shop', ticket: 'OPS-77' } })));
    await agent.connect();
    const sql = `DELETE FROM public.orders WHERE id = ${orderId}`;
    let settled = false;
    const running = agent.query(sql).finally(() => (settled = true));

    const page = await (await browser.newContext()).newPage();
    await page.goto(`${gw.running.admin!.url}/`);
    await page.getByLabel('Bearer token (JWT)').fill(await gw.token({ sub: 'human:dba', groups: ['dba-oncall'], kind: 'human' }));
    await page.getByRole('button', { name: 'Sign in' }).click();
    const card = page.locator('#pending li', { hasText: sql });
    await card.waitFor({ timeout: 15_000 });
    const text: string = await card.innerText();
    for (const want of ['agent:cleanup', 'claude-test', 'OPS-77', 'requires approval']) expect(text).toContain(want);
    expect(settled).toBe(false); // still waiting
    expect((await directQuery('SELECT count(*)::int AS n FROM public.orders WHERE id = $1', [orderId])).rows[0].n).toBe(1);

    await card.getByLabel(/Comment/).fill('stale order, OPS-77');
    await card.getByRole('button', { name: 'Approve' }).click();
    const result = await running;
    expect(result.rowCount).toBe(1);
    expect((await directQuery('SELECT count(*)::int AS n FROM public.orders WHERE id = $1', [orderId])).rows[0].n).toBe(0);
    await agent.end();
  });
});
