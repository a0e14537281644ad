// The packet's inline SVG charts: well-formed, escaped, honest about empty periods, readable by
// screen readers, deterministic; and drawn by real headless Chromium without errors or overflow.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { barChart, escapeXml, formatNumber, histogram, niceScale, NO_DATA, stackedBarChart, timeSeriesChart } from './charts.js';

const HOSTILE = `<script>alert("x")</script> & 'quoted' "label" ]]> <!-- \u0001`;
const W = 720;

function days(n: number, from = Date.UTC(2024, 0, 1)): string[] {
  return Array.from({ length: n }, (_, i) => new Date(from + i * 86_400_000).toISOString().slice(0, 10));
}

/** Parses the SVG and returns it with its title, desc and aria-label. Fails on ill-formed XML. */
function parse(svg: string) {
  expect(XMLValidator.validate(svg)).toBe(true);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', textNodeName: '#text' }).parse(svg).svg;
  expect(doc.role).toBe('img');
  expect(doc.width).toBe('100%');
  expect(doc['font-family']).toBe('system-ui, sans-serif');
  return { doc, title: String(doc.title), desc: String(doc.desc), aria: String(doc['aria-label']) };
}

/** What no chart may ever contain, whatever it was given. */
function assertSafe(svg: string): void {
  expect(svg).not.toMatch(/NaN|Infinity|undefined|∞/);
  expect(svg).not.toMatch(/<script|<foreignObject|xlink:|href=|url\(|@import|on[a-z]+=/i);
  const [, , , vw, vh] = /viewBox="([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)"/.exec(svg)!.map(Number);
  expect(vw).toBe(W);
  for (const m of svg.replace(' width="100%"', '').matchAll(/ (x|y|x1|x2|y1|y2|cx|cy|width|height)="([^"]*)"/g)) {
    const v = Number(m[2]);
    expect(Number.isFinite(v), `${m[1]}="${m[2]}"`).toBe(true);
    expect(v).toBeGreaterThanOrEqual(m[1] === 'height' || m[1] === 'width' ? 0 : -0.01);
    expect(v).toBeLessThanOrEqual(m[1]!.startsWith('y') || m[1] === 'height' || m[1] === 'cy' ? vh! : W);
  }
}

const sample = {
  time: (n: number) => timeSeriesChart({
    title: 'Statements per day',
    days: days(n),
    stacked: true,
    unit: 'statements',
    series: [
      { name: 'allowed', tone: 'good', values: days(n).map((_, i) => 100 + ((i * 37) % 90)) },
      { name: 'denied', tone: 'bad', values: days(n).map((_, i) => (i * 7) % 13) },
      { name: 'held', tone: 'warn', values: days(n).map((_, i) => (i % 5 === 0 ? 3 : 0)) },
    ],
  }),
  bars: () => barChart({
    title: 'Masked values by column',
    unit: 'values',
    bars: [
      { label: 'public.customers.email', value: 12_345 },
      { label: 'public.customers.a_very_long_column_name_that_will_not_fit_in_the_label_column', value: 2_500, tone: 'warn', note: '3 sessions' },
      { label: 'public.orders.card_last4', value: 87 },
    ],
  }),
  stacked: () => stackedBarChart({
    title: 'Decisions by identity',
    categories: ['agent:claude@acme', 'alice@acme', 'bob@acme'],
    series: [
      { name: 'allowed', tone: 'good', values: [1_204, 310, 45] },
      { name: 'denied', tone: 'bad', values: [12, 0, 2] },
      { name: 'held', tone: 'warn', values: [30, 1, 0] },
      { name: 'approved', tone: 'neutral', values: [28, 1, 0] },
    ],
  }),
  histogram: () => histogram({
    title: 'Approval latency',
    unit: 'approvals',
    buckets: [{ label: '< 1 min', count: 14 }, { label: '1–5 min', count: 9 }, { label: '5–15 min', count: 3 }, { label: '> 15 min', count: 1 }],
  }),
};

describe('escapeXml and formatNumber', () => {
  it('escapes the five XML specials and drops characters XML forbids', () => {
    expect(escapeXml(`<a href="x">Tom & 'Jerry'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;');
    expect(escapeXml('bell\u0007 nul\u0000 lone\uD800 pair😀 tab\tok')).toBe('bell nul lone pair😀 tab\tok');
    expect(XMLValidator.validate(`<x a="${escapeXml(HOSTILE)}">${escapeXml(HOSTILE)}</x>`)).toBe(true);
  });

  it('formats en-US with separators and never prints NaN or Infinity', () => {
    expect(formatNumber(1_234_567)).toBe('1,234,567');
    expect(formatNumber(0.5)).toBe('0.5');
    expect(formatNumber(2 / 3)).toBe('0.67');
    expect(formatNumber(-0)).toBe('0');
    expect(formatNumber(1e300)).toBe('1E300');
    for (const bad of [NaN, Infinity, -Infinity]) expect(formatNumber(bad)).toBe('–');
  });

  it('puts ticks at 1, 2 or 5 × 10^n', () => {
    expect(niceScale(87)).toEqual({ top: 100, step: 20 });
    expect(niceScale(1, 5, true)).toEqual({ top: 1, step: 1 });
    expect(niceScale(0.7)).toEqual({ top: 0.8, step: 0.2 });
    expect(niceScale(12_345)).toEqual({ top: 15_000, step: 5_000 });
    expect(niceScale(12_345, 10)).toEqual({ top: 14_000, step: 2_000 });
    expect(niceScale(0)).toEqual({ top: 1, step: 1 });
    const huge = niceScale(Number.MAX_VALUE);
    expect(Number.isFinite(huge.top) && Number.isFinite(huge.step)).toBe(true);
  });
});

describe('charts', () => {
  it('draw each chart type as well-formed SVG with its figures in words', () => {
    const time = parse(sample.time(7));
    expect(time.desc).toContain('7 days from 2024-01-01 to 2024-01-07');
    expect(time.desc).toContain('Totals: allowed 937 statements, denied 30 statements, held 6 statements');
    expect(time.desc).toContain('2024-01-03: allowed 174, denied 1, held 0');
    expect(time.aria).toContain('Statements per day: allowed 937 statements');

    const bars = parse(sample.bars());
    expect(bars.desc).toContain('public.customers.email: 12,345 values; ');
    expect(bars.desc).toContain('not_fit_in_the_label_column: 2,500 values · 3 sessions');
    expect(bars.aria).toBe('Masked values by column: 3 items, largest public.customers.email with 12,345 values');

    const stacked = parse(sample.stacked());
    expect(stacked.desc).toContain('agent:claude@acme: allowed 1,204, denied 12, held 30, approved 28 (total 1,274)');
    expect(stacked.aria).toContain('allowed 1,559, denied 14');

    const hist = parse(sample.histogram());
    expect(hist.desc).toBe('27 approvals in 4 buckets: < 1 min: 14; 1–5 min: 9; 5–15 min: 3; > 15 min: 1.');
    for (const svg of [sample.time(7), sample.bars(), sample.stacked(), sample.histogram()]) assertSafe(svg);
  });

  it('truncates long labels with an ellipsis and keeps the full text in a tooltip', () => {
    const svg = sample.bars();
    const long = 'public.customers.a_very_long_column_name_that_will_not_fit_in_the_label_column';
    expect(svg).toContain(`<title>${long}: 2,500 values · 3 sessions</title>`);
    const shown = [...svg.matchAll(/<text[^>]*text-anchor="end"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
    expect(shown).toContain('public.customers.email');
    const cut = shown.find((s) => s.startsWith('public.customers.a_very'))!;
    expect(cut).toMatch(/^public\.customers\.a_very_\w*…$/);
    expect(Array.from(cut).length).toBeLessThan(long.length);
  });

  it('escapes hostile titles, labels, series names and notes', () => {
    const svgs = [
      timeSeriesChart({ title: HOSTILE, days: [HOSTILE], series: [{ name: HOSTILE, values: [1] }, { name: 'b', values: [2] }], unit: HOSTILE }),
      barChart({ title: HOSTILE, bars: [{ label: HOSTILE, value: 3, note: HOSTILE }], unit: HOSTILE }),
      stackedBarChart({ title: HOSTILE, categories: [HOSTILE], series: [{ name: HOSTILE, values: [1] }, { name: 'x', values: [1] }] }),
      histogram({ title: HOSTILE, buckets: [{ label: HOSTILE, count: 2 }] }),
    ];
    for (const svg of svgs) {
      const { doc, title, desc } = parse(svg);
      assertSafe(svg);
      expect(svg).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;');
      expect(title).toContain('<script>alert("x")</script> &'); // text once decoded, never markup
      expect(JSON.stringify(doc)).not.toContain('"script"');
      expect(desc).toContain('<script>alert("x")</script>');
    }
  });

  it('say "No data in this period" for no rows and for all zeros', () => {
    const empties = [
      timeSeriesChart({ title: 'Statements per day', days: [], series: [] }),
      timeSeriesChart({ title: 'Statements per day', days: days(30), series: [{ name: 'allowed', values: Array(30).fill(0) }], stacked: true }),
      barChart({ title: 'Top identities', bars: [] }),
      barChart({ title: 'Top identities', bars: [{ label: 'a', value: 0 }, { label: 'b', value: NaN }, { label: 'c', value: -4 }] }),
      stackedBarChart({ title: 'Decisions', categories: [], series: [] }),
      stackedBarChart({ title: 'Decisions', categories: ['a'], series: [{ name: 'allowed', values: [0] }] }),
      histogram({ title: 'Latency', buckets: [] }),
      histogram({ title: 'Latency', buckets: [{ label: '< 1 min', count: 0 }] }),
    ];
    for (const svg of empties) {
      const { aria, desc } = parse(svg);
      assertSafe(svg);
      expect(svg).toContain(`>${NO_DATA}</text>`);
      expect(desc).toBe(`${NO_DATA}.`);
      expect(aria).toMatch(new RegExp(`: ${NO_DATA}$`));
      expect(svg).not.toContain('<rect');
    }
  });

  it('cope with a single day and with 400 days', () => {
    const one = sample.time(1);
    parse(one);
    assertSafe(one);
    expect(parse(one).desc).toMatch(/^On 2024-01-01\. Totals: allowed 100 statements/);
    const widths = [...one.replace(/<g class="legend">.*?<\/g>/, '').matchAll(/<rect [^>]*width="([\d.]+)" height="[\d.]+" fill="#009E73"/g)].map((m) => Number(m[1]));
    expect(widths).toEqual([64]); // one column, not one as wide as the chart

    const many = sample.time(400);
    const { desc } = parse(many);
    assertSafe(many);
    expect(desc).toContain('400 days from 2024-01-01 to 2025-02-03');
    expect(desc).not.toContain('By day'); // 400 days of figures would drown a screen reader
    const xLabels = [.../<g class="x-labels">(.*?)<\/g>/.exec(many)![1]!.matchAll(/>(\d{4}-\d\d-\d\d)</g)].map((m) => m[1]);
    expect(xLabels.length).toBeGreaterThan(3);
    expect(xLabels.length).toBeLessThanOrEqual(10);
    expect(xLabels[0]).toBe('2024-01-01');
    expect(many.match(/<g><title>/g)!.length).toBe(400); // a tooltip per day
  });

  it('draw overlaid series as lines when not stacked', () => {
    const svg = timeSeriesChart({ title: 'Sessions', days: days(3), series: [{ name: 'agents', values: [1, 2, 3] }, { name: 'humans', values: [3, 0, 1] }] });
    parse(svg);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(6);
    expect(svg).toContain('<g class="legend">');
  });

  it('ignore a zero or junk max, clamp values beyond a given max, and survive huge values', () => {
    const zeroMax = barChart({ title: 'Share', bars: [{ label: 'a', value: 40 }, { label: 'b', value: 10 }], max: 0 });
    parse(zeroMax);
    assertSafe(zeroMax);
    expect(zeroMax).toContain('>40</text>');

    const over = barChart({ title: 'Percent masked', unit: '%', max: 100, bars: [{ label: 'a', value: 150 }, { label: 'b', value: 50 }] });
    assertSafe(over);
    const [a, b] = [...over.matchAll(/<rect [^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(a).toBeCloseTo(2 * b!, 0); // 150 is drawn at the 100 mark, 50 at half of it
    expect(over).toContain('>150 %</text>');
    expect([...over.matchAll(/class="value-axis"(.*?)<\/g>/g)][0]![1]).toContain('>100</text>');

    for (const svg of [
      barChart({ title: 'Huge', bars: [{ label: 'a', value: 1e300 }, { label: 'b', value: Number.MAX_VALUE }, { label: 'c', value: Infinity }] }),
      stackedBarChart({ title: 'Huge', categories: ['a', 'b'], series: [{ name: 'x', values: [Number.MAX_VALUE, 1] }, { name: 'y', values: [Number.MAX_VALUE, 2] }] }),
      timeSeriesChart({ title: 'Huge', days: days(2), stacked: true, series: [{ name: 'x', values: [Number.MAX_VALUE, 1e20] }, { name: 'y', values: [Number.MAX_VALUE, 0] }] }),
      histogram({ title: 'Huge', buckets: [{ label: 'a', count: 9_007_199_254_740_993 }, { label: 'b', count: 1 }] }),
    ]) {
      parse(svg);
      assertSafe(svg);
    }
  });

  it('reject series whose length does not match the days or categories', () => {
    expect(() => timeSeriesChart({ title: 't', days: days(3), series: [{ name: 'allowed', values: [1, 2] }] })).toThrow(/series "allowed" has 2 values for 3 days/);
    expect(() => stackedBarChart({ title: 't', categories: ['a'], series: [{ name: 'x', values: [] }] })).toThrow(/0 values for 1 categories/);
  });

  it('are deterministic: the same input gives the same bytes', () => {
    for (const make of [() => sample.time(400), sample.bars, sample.stacked, sample.histogram]) {
      expect(make()).toBe(make());
    }
  });
});

// ---- in a real browser ----

const CHROMIUM = process.env.AUDITGATE_CHROMIUM ?? '/usr/bin/chromium';
const PLAYWRIGHT = 'playwright-core'; // a variable: the typecheck must not need the package
let playwright: any = null;
let skipReason = '';
try {
  playwright = await import(PLAYWRIGHT);
} catch {
  skipReason = 'playwright-core is not installed';
}
if (!skipReason && !existsSync(CHROMIUM)) skipReason = `no Chromium at ${CHROMIUM} (apt-get install chromium, or set AUDITGATE_CHROMIUM)`;
if (skipReason) console.warn(`reports/cc6/charts.test.ts browser test skipped: ${skipReason}`);

describe.skipIf(skipReason !== '')(`charts in headless Chromium${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('render without errors, network or overflow, and are named for screen readers', async () => {
    const charts = [
      sample.time(400),
      sample.time(1),
      sample.bars(),
      sample.stacked(),
      sample.histogram(),
      barChart({ title: HOSTILE, bars: [{ label: HOSTILE, value: 5 }] }),
      histogram({ title: 'Approval latency (none)', buckets: [] }),
    ];
    // The packet's own rules: no scripts, nothing fetched. A violation is a console error.
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>charts</title><style>body{font-family:system-ui,sans-serif;max-width:760px;margin:16px auto}figure{margin:0 0 24px}</style></head>
<body>${charts.map((c) => `<figure>${c}</figure>`).join('\n')}</body></html>`;

    const browser = await (playwright.chromium ?? playwright.default.chromium).launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
      const problems: string[] = [];
      page.on('pageerror', (e: Error) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m: { type(): string; text(): string }) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('request', (req: { url(): string }) => {
        if (!req.url().startsWith('data:') && req.url() !== 'about:blank') problems.push(`request: ${req.url()}`);
      });
      await page.setContent(html, { waitUntil: 'load' });

      const boxes = await page.locator('svg').evaluateAll((svgs: SVGSVGElement[]) => svgs.map((svg) => {
        const box = svg.getBoundingClientRect();
        const vb = svg.viewBox.baseVal;
        // every text drawn inside the viewBox (nothing cut off at the edges)
        const outside = [...svg.querySelectorAll('text')].filter((t) => {
          const b = t.getBBox();
          return b.x < vb.x - 1 || b.x + b.width > vb.x + vb.width + 1 || b.y < vb.y - 1 || b.y + b.height > vb.y + vb.height + 1;
        }).map((t) => t.textContent);
        // x-axis labels do not overlap one another
        const xs = [...svg.querySelectorAll('.x-labels text')].map((t) => (t as SVGTextElement).getBBox()).sort((p, q) => p.x - q.x);
        const overlaps = xs.filter((b, i) => i > 0 && b.x < xs[i - 1]!.x + xs[i - 1]!.width).length;
        return { width: box.width, height: box.height, outside, overlaps };
      }));
      expect(boxes).toHaveLength(charts.length);
      for (const b of boxes) {
        expect(b.width).toBeGreaterThan(600);
        expect(b.height).toBeGreaterThan(40);
        expect(b.outside).toEqual([]);
        expect(b.overlaps).toBe(0);
      }

      // The accessible name is the title plus the figures; the script label stayed text.
      await page.getByRole('img', { name: /^Decisions by identity: allowed 1,559, denied 14/ }).waitFor();
      await page.getByRole('img', { name: 'Approval latency (none): No data in this period' }).waitFor();
      expect(await page.getByRole('img', { name: /<script>alert/ }).count()).toBe(1);
      expect(await page.locator('script').count()).toBe(0);
      expect(await page.locator('svg text', { hasText: NO_DATA }).count()).toBe(1);

      const dir = join(import.meta.dirname, '..', '..', 'test-artifacts');
      mkdirSync(dir, { recursive: true });
      const shot = join(dir, 'charts.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
