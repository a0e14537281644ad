// Test helpers for CC6 packets: re-derive every figure of index.html from queries/ against
// the evidence database, and render the page in headless Chromium.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openEvidenceDb } from '../../collectors/evidence-db.js';
import { executePacketQuery, PACKET_SESSION_SETUP, type QueryMeta } from '../packet/query-file.js';

const unescape = (s: string) => s.replace(/&(lt|gt|quot|#39|amp);/g, (_, n: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[n]!);

export interface FigureCheck {
  references: number;
  mismatches: string[];
}

/** Every <data> reference of index.html, checked against its query re-run from queries/. */
export async function checkFigureReferences(packet: string, dbPath: string): Promise<FigureCheck> {
  const html = await readFile(join(packet, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/<data value="([^"]*)" data-q="([^"]*)"(?: data-row="(\d+)" data-col="([^"]*)"| data-count="([^"]*)")>/g)];
  const db = await openEvidenceDb(dbPath, { readOnly: true });
  const mismatches: string[] = [];
  try {
    await db.connection.run(PACKET_SESSION_SETUP);
    const cache = new Map<string, { columns: string[]; rows: unknown[][] }>();
    for (const [, rawValue, q, row, col, where] of refs) {
      if (!cache.has(q!)) {
        const meta = JSON.parse(await readFile(join(packet, 'queries', `${q}.meta.json`), 'utf8')) as QueryMeta;
        const sql = await readFile(join(packet, meta.sql_file), 'utf8');
        cache.set(q!, await executePacketQuery(db.connection, sql, meta.parameters));
      }
      const r = cache.get(q!)!;
      const want = unescape(rawValue!);
      let got: string;
      if (where !== undefined) {
        const cond = Object.entries(JSON.parse(unescape(where)) as Record<string, string>).map(([c, v]) => [r.columns.indexOf(c), v] as const);
        got = String(r.rows.filter((x) => cond.every(([i, v]) => String(x[i]) === v)).length);
      } else {
        const v = r.rows[Number(row)]?.[r.columns.indexOf(col!)];
        got = v === null || v === undefined ? '' : String(v);
      }
      if (got !== want) mismatches.push(`${q} ${where ?? `row ${row} ${col}`}: page says ${JSON.stringify(want)}, the query gives ${JSON.stringify(got)}`);
    }
  } finally {
    db.close();
  }
  return { references: refs.length, mismatches };
}

export interface RenderedPage {
  title: string;
  headings: string[];
  svgs: number;
  errors: string[];
  requests: string[];
}

/** Opens index.html in headless Chromium (AUDITGATE_CHROMIUM or /usr/bin/chromium), saves a full-page screenshot. */
export async function renderPacketPage(packet: string, screenshot: string): Promise<RenderedPage> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: process.env.AUDITGATE_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    const url = pathToFileURL(resolve(packet, 'index.html')).href;
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('request', (req) => {
      if (req.url() !== url && !req.url().startsWith('data:')) requests.push(req.url());
    });
    await page.goto(url);
    await mkdir(dirname(resolve(screenshot)), { recursive: true });
    await page.screenshot({ path: resolve(screenshot), fullPage: true });
    return {
      title: await page.title(),
      headings: (await page.locator('h2').allInnerTexts()).map((s) => s.trim()),
      svgs: await page.locator('svg').count(),
      errors,
      requests,
    };
  } finally {
    await browser.close();
  }
}
