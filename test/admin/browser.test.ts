// The approvers' page in a real browser: headless Chromium driven by playwright-core (with
// executablePath, no downloaded browsers). An approver signs in with a dev-issuer token, a
// request held through the approval service appears without a reload, and is approved from
// the keyboard with a comment; the service confirms it.
//
// Needs `playwright-core` (devDependency) and Chromium at /usr/bin/chromium (Debian package
// `chromium`; another path: AUDITGATE_CHROMIUM). Skipped, with the reason, when either is missing.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalService } from '../../proxy/approvals/types.js';
import {
  createControlDb,
  createTestIssuer,
  startService,
  startTestAdmin,
  statementRequest,
  type TestIssuer,
} from '../../proxy/admin/admin.fixtures.js';
import type { AdminServer } from '../../proxy/admin/server.js';

const CHROMIUM = process.env.AUDITGATE_CHROMIUM ?? '/usr/bin/chromium';
const PLAYWRIGHT = 'playwright-core'; // a variable: the typecheck must not need the package

let playwright: any = null;
let skipReason = '';
try {
  playwright = await import(PLAYWRIGHT);
} catch {
  skipReason = 'playwright-core is not installed (npm install --save-dev playwright-core)';
}
if (!skipReason && !existsSync(CHROMIUM)) skipReason = `no Chromium at ${CHROMIUM} (apt-get install chromium, or set AUDITGATE_CHROMIUM)`;
if (skipReason) console.warn(`test/admin/browser.test.ts skipped: ${skipReason}`);

describe.skipIf(skipReason !== '')(`the approvals page in headless Chromium${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let db: Awaited<ReturnType<typeof createControlDb>>;
  let service: ApprovalService;
  let issuer: TestIssuer;
  let server: AdminServer;
  let browser: any;
  const problems: string[] = [];
  const CLAIMS = { model: 'claude-sonnet-4', repository: 'acme/shop', ticket: 'OPS-42' };

  beforeAll(async () => {
    db = await createControlDb('browser');
    issuer = await createTestIssuer();
    service = await startService(db.url);
    server = await startTestAdmin(service, issuer);
    browser = await (playwright.chromium ?? playwright.default.chromium).launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await service?.close();
    await db?.drop();
    await issuer?.cleanup();
  });

  async function signedIn(token: string) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e: Error) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m: { type(): string; text(): string }) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${server.url}/`);
    await page.getByLabel('Bearer token (JWT)').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#conn', { hasText: /^connected$/ }).waitFor({ timeout: 15_000 });
    expect(page.url()).toBe(`${server.url}/`); // the token never lands in the URL
    return { context, page };
  }

  it('shows a request held while the page is open, escaped, and approves it with a comment', async () => {
    const approver = await issuer.token('bob@acme', ['dba'], 'human');
    const { context, page } = await signedIn(approver);
    try {
      await page.locator('#whoami', { hasText: 'Signed in as bob@acme' }).waitFor();
      await page.locator('#empty', { hasText: 'No pending requests.' }).waitFor();

      // Held through the service while the page is open: it must appear without a reload.
      const sql = "DELETE FROM public.orders WHERE note = '<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">' AND id = $1";
      const held = await service.createStatementRequest(
        statementRequest(issuer.identity('agent:claude@acme', ['agents'], 'agent', CLAIMS), { sql, params: ['42'] }),
      );
      const card = page.locator(`#pending li[data-id="${held.id}"]`);
      await card.waitFor({ timeout: 15_000 });

      const text: string = await card.innerText();
      for (const want of ['agent:claude@acme', 'claude-sonnet-4', 'acme/shop', 'OPS-42', 'app as app_rw', 'production writes need a DBA', 'approvals 0 of 1', '$1 = 42']) {
        expect(text).toContain(want);
      }
      expect(await card.locator('pre.sql').innerText()).toBe(sql); // shown as text, exactly
      expect(await card.locator('pre.sql mark').allInnerTexts()).toEqual(['public.orders']);
      expect(await page.locator('#pending script, #pending img').count()).toBe(0);
      expect(await page.evaluate('window.__pwned')).toBeUndefined();
      expect(await card.locator('time.left').innerText()).toMatch(/^9m \d\ds left$/);
      await page.locator('#live', { hasText: 'New request' }).waitFor();

      // Keyboard only: comment, Tab to Approve, Enter.
      const comment = card.getByLabel(/Comment/);
      await comment.focus();
      await page.keyboard.type('checked against OPS-42');
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement && document.activeElement.textContent')).toBe('Approve');
      await page.keyboard.press('Enter');

      await page.locator(`#recent li[data-id="${held.id}"] .badge`, { hasText: 'approved' }).waitFor({ timeout: 15_000 });
      expect(await card.count()).toBe(0);
      await page.locator('#live', { hasText: /approved/i }).waitFor();

      const stored = await service.get(held.id);
      expect(stored!.status).toBe('approved');
      expect(stored!.decisions).toEqual([
        expect.objectContaining({ decision: 'approve', comment: 'checked against OPS-42', approver: expect.objectContaining({ subject: 'bob@acme' }) }),
      ]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('requests access from the page; the requester cannot approve it, and sees the decision live', async () => {
    const requester = await issuer.token('alice@acme', ['dba'], 'human');
    const { context, page } = await signedIn(requester);
    try {
      await page.getByLabel('Role', { exact: true }).fill('app_admin');
      await page.getByLabel('Minutes', { exact: true }).fill('30');
      await page.getByLabel('Reason', { exact: true }).fill('OPS-7: rotate the stuck lock');
      await page.getByRole('button', { name: 'Request access' }).click();
      const card = page.locator('#pending li', { hasText: 'Access request: role app_admin for 30 minutes' });
      await card.waitFor({ timeout: 15_000 });
      expect(await card.innerText()).toContain('You made this request: someone else must decide.');
      expect(await card.getByRole('button', { name: 'Approve' }).count()).toBe(0);

      const id = (await card.getAttribute('data-id')) as string;
      const access = await service.get(id);
      expect(access).toMatchObject({ type: 'access', status: 'pending', role: 'app_admin', minutes: 30, requester: { subject: 'alice@acme' } });
      await service.decide(id, issuer.identity('carol@acme', ['dba']), 'approve', 'go ahead');
      await page.locator(`#recent li[data-id="${id}"] .badge`, { hasText: 'approved' }).waitFor({ timeout: 15_000 });
      await page.locator('#grants li', { hasText: 'app_admin' }).waitFor({ timeout: 15_000 });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('signs out when the token is refused', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.getByLabel('Bearer token (JWT)').fill(await issuer.expiredToken('bob@acme'));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#alert', { hasText: 'invalid token: expired' }).waitFor();
      expect(await page.locator('#app').isHidden()).toBe(true);
    } finally {
      await context.close();
    }
  });
});
