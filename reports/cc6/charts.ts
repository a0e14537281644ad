// Inline SVG charts for the CC6 packet's index.html: pure functions, options in, SVG markup out.
// The page must stand alone (no scripts, web fonts or fetches) and be read by non-engineers and by
// screen readers, so every chart states its figures in words (<desc>) and in hover tooltips
// (<title>). Output is deterministic because the packet is hashed and signed: a re-run over the
// same evidence must produce the same bytes.

export type Tone = 'neutral' | 'good' | 'bad' | 'warn' | 'muted';

/** Okabe–Ito colours (distinguishable with the common colour-vision deficiencies); `ink` is the
 * text colour with at least 4.5:1 contrast on the fill. */
export const TONES: Record<Tone, { fill: string; ink: string }> = {
  neutral: { fill: '#0072B2', ink: '#ffffff' },
  good: { fill: '#009E73', ink: '#111111' },
  bad: { fill: '#D55E00', ink: '#ffffff' },
  warn: { fill: '#E69F00', ink: '#111111' },
  muted: { fill: '#999999', ink: '#111111' },
};
const CYCLE: Tone[] = ['neutral', 'warn', 'good', 'bad', 'muted']; // for series given no tone

export const NO_DATA = 'No data in this period';
const W = 720; // viewBox width; the SVG is width="100%" and scales to its container
const FONT = 12;
const CHAR = 0.6; // glyph width / font size, on the wide side for system-ui: layouts reserve by it
const INK = '#1f2937';
const SUB = '#4b5563';
const GRID = '#e5e7eb';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
// Characters XML 1.0 forbids (C0 controls but tab/newline/CR, U+FFFE/FFFF, lone surrogates): one
// hostile label must not make the whole page ill-formed, so they are dropped.
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text safe inside XML/HTML elements and quoted attributes. */
export function escapeXml(s: string): string {
  return String(s).replace(NOT_XML, '').replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

const PLAIN = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const HUGE = new Intl.NumberFormat('en-US', { notation: 'scientific', maximumFractionDigits: 2 });

/** en-US with thousands separators; beyond 10^15 scientific ("1.5E18"); never "NaN" or "∞". */
export function formatNumber(n: number): string {
  const v = Number(n);
  if (!Number.isFinite(v)) return '–';
  if (v === 0) return '0'; // also -0
  return Math.abs(v) >= 1e15 ? HUGE.format(v) : PLAIN.format(v);
}

/** Axis ticks at 1, 2 or 5 × 10^n, about `target` of them, covering `max`. */
export function niceScale(max: number, target = 5, integer = false): { top: number; step: number } {
  const m = Math.min(Number(max), Number.MAX_VALUE);
  if (!(m > 0)) return { top: 1, step: 1 };
  const raw = m / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  let step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  if (integer && step < 1) step = 1; // counts: no "0.5 statements" tick
  const top = Math.ceil(m / step - 1e-9) * step;
  return { top: Number.isFinite(top) ? top : m, step };
}

// ---- small drawing helpers (every number through r(), every string through escapeXml) ----

/** Negative, NaN and infinite inputs count as zero; bigint (DuckDB BIGINT) is accepted. */
const clean = (v: number): number => { const n = Number(v); return Number.isFinite(n) && n > 0 ? n : 0; };
const r = (n: number): number => (Number.isFinite(n) ? Math.round(n * 10) / 10 : 0);
const sum = (xs: number[]): number => Math.min(xs.reduce((a, b) => a + b, 0), Number.MAX_VALUE);
const most = (xs: number[]): number => xs.reduce((a, b) => Math.max(a, b), 0);
const textWidth = (s: string, size = FONT): number => Array.from(s).length * size * CHAR;
const amount = (v: number, unit?: string): string => formatNumber(v) + (unit ? ` ${unit}` : '');
const ratio = (v: number, top: number): number => (top > 0 ? Math.min(1, v / top) : 0);
const named = (name: string, what: string): string => (name ? `${name} ${what}` : what);
/** A tone the palette knows, else `fallback` (callers in plain JS can pass anything). */
const toneOr = (t: unknown, fallback: Tone): Tone => (typeof t === 'string' && Object.hasOwn(TONES, t) ? (t as Tone) : fallback);

/** Fits `s` into `width` px, ending with an ellipsis when cut (by code point, never mid-character). */
function fit(s: string, width: number, size = FONT): string {
  const chars = Array.from(String(s).replace(/\s+/g, ' ').trim());
  const room = Math.floor(width / (size * CHAR));
  if (chars.length <= room) return chars.join('');
  return room <= 1 ? '…' : chars.slice(0, room - 1).join('').trimEnd() + '…';
}

type TextOpts = { anchor?: 'middle' | 'end'; size?: number; fill?: string; weight?: number };
function text(x: number, y: number, s: string, o: TextOpts = {}): string {
  const a = o.anchor ? ` text-anchor="${o.anchor}"` : '';
  const size = o.size ? ` font-size="${o.size}"` : '';
  const weight = o.weight ? ` font-weight="${o.weight}"` : '';
  return `<text x="${r(x)}" y="${r(y)}"${a}${size}${weight} fill="${o.fill ?? INK}">${escapeXml(s)}</text>`;
}

function rect(x: number, y: number, w: number, h: number, fill: string, tip?: string): string {
  if (!(w > 0 && h > 0)) return '';
  const t = tip ? `<title>${escapeXml(tip)}</title>` : '';
  return `<rect x="${r(x)}" y="${r(y)}" width="${r(Math.max(w, 0.5))}" height="${r(Math.max(h, 0.5))}" fill="${fill}">${t}</rect>`;
}

const line = (x1: number, y1: number, x2: number, y2: number, stroke = GRID): string =>
  `<line x1="${r(x1)}" y1="${r(y1)}" x2="${r(x2)}" y2="${r(y2)}" stroke="${stroke}"/>`;

/** Tick values 0, step, 2·step … up to `top`. */
function ticks(top: number, step: number): number[] {
  const n = Math.min(20, Math.floor(top / step + 1e-9));
  return Array.from({ length: n + 1 }, (_, i) => i * step);
}

function frame(title: string, summary: string, desc: string, height: number, body: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${r(height)}" width="100%" role="img"` +
      ` aria-label="${escapeXml(`${title}: ${summary}`)}" font-family="system-ui, sans-serif" font-size="${FONT}">`,
    `<title>${escapeXml(title)}</title>`,
    `<desc>${escapeXml(desc)}</desc>`,
    text(0, 18, fit(title, W, 15), { size: 15, weight: 600 }),
    body,
    '</svg>',
  ].join('\n');
}

/** What an empty chart says instead of drawing an empty frame. */
function noData(title: string): string {
  return frame(title, NO_DATA, `${NO_DATA}.`, 56, text(0, 44, NO_DATA, { fill: SUB, size: 13 }));
}

type Series = { name: string; values: number[]; tone: Tone };
function toSeries(chart: string, s: { name: string; values: number[]; tone?: Tone }[], length: number, what: string): Series[] {
  return s.map((x, i) => {
    if (x.values.length !== length) {
      throw new Error(`${chart}: series "${x.name}" has ${x.values.length} values for ${length} ${what}`);
    }
    return { name: String(x.name), values: x.values.map(clean), tone: toneOr(x.tone, CYCLE[i % CYCLE.length]!) };
  });
}

/** A legend row (wrapping) under the title; none for a single series. */
function legend(series: Series[], y: number): { svg: string; height: number } {
  if (series.length < 2) return { svg: '', height: 0 };
  let x = 0;
  let row = 0;
  const parts: string[] = [];
  for (const s of series) {
    const name = fit(s.name, 200);
    const w = 14 + textWidth(name) + 18;
    if (x > 0 && x + w > W) { x = 0; row++; }
    parts.push(rect(x, y + row * 18, 10, 10, TONES[s.tone].fill) + text(x + 14, y + row * 18 + 9.5, name, { fill: SUB }));
    x += w;
  }
  return { svg: `<g class="legend">${parts.join('')}</g>`, height: (row + 1) * 18 };
}

/** Vertical gridlines and value labels under a horizontal-bar plot. */
function valueAxis(top: number, step: number, x0: number, plotW: number, y0: number, y1: number): string {
  const out = ticks(top, step).map((v) => {
    const x = x0 + ratio(v, top) * plotW;
    const label = formatNumber(v);
    const half = textWidth(label, 11) / 2;
    return line(x, y0, x, y1) + text(Math.min(Math.max(x, half), W - half), y1 + 14, label, { anchor: 'middle', size: 11, fill: SUB });
  });
  return `<g class="value-axis">${out.join('')}</g>`;
}

/** How many ticks fit along `length` px when each label is about as wide as the largest value. */
const tickTarget = (max: number, length: number): number => Math.max(1, Math.min(5, Math.floor(length / (textWidth(formatNumber(max), 11) + 24))));

// ---- column charts (time series and histogram share the layout) ----

function columnChart(title: string, labels: string[], series: Series[], stacked: boolean, unit: string | undefined,
  sparse: boolean, summary: string, desc: string): string {
  const n = labels.length;
  const totals = labels.map((_, i) => (stacked ? sum : most)(series.map((s) => s.values[i]!)));
  const leg = legend(series, 30);
  const plotTop = 30 + leg.height + 16; // room for the value printed above the tallest column
  const plotH = 180;
  const base = plotTop + plotH;
  const integer = series.every((s) => s.values.every(Number.isInteger));
  const { top, step } = niceScale(most(totals), 5, integer);
  const yTicks = ticks(top, step);
  const left = most(yTicks.map((v) => textWidth(formatNumber(v), 11))) + 10;
  const plotW = W - left - 2;
  const slot = plotW / n;
  const colW = slot >= 4 ? Math.min(slot * 0.75, 64) : slot; // thin periods: columns touch
  const y = (v: number): number => base - ratio(v, top) * plotH;
  const cx = (i: number): number => left + (i + 0.5) * slot;
  const parts: string[] = [];

  parts.push(leg.svg);
  parts.push(`<g class="y-axis">${yTicks.map((v) => line(left, y(v), W, y(v)) + text(left - 6, y(v) + 4, formatNumber(v), { anchor: 'end', size: 11, fill: SUB })).join('')}</g>`);
  if (stacked || series.length === 1) {
    const showTotals = slot >= most(totals.map((t) => textWidth(formatNumber(t), 10))) + 4;
    labels.forEach((label, i) => {
      if (totals[i]! <= 0) return;
      let acc = 0;
      const tip = `${label}: ${series.map((s) => named(s.name, amount(s.values[i]!, unit))).join(', ')}`;
      const segs = series.map((s) => {
        const v = s.values[i]!;
        const seg = rect(cx(i) - colW / 2, y(acc + v), colW, y(acc) - y(acc + v), TONES[s.tone].fill);
        acc += v;
        return seg;
      });
      const total = showTotals ? text(cx(i), y(totals[i]!) - 4, formatNumber(totals[i]!), { anchor: 'middle', size: 10, fill: SUB }) : '';
      parts.push(`<g><title>${escapeXml(tip)}</title>${segs.join('')}${total}</g>`);
    });
  } else {
    for (const s of series) { // overlaid series: one line each, with points while they can be told apart
      const pts = s.values.map((v, i) => `${r(cx(i))},${r(y(v))}`).join(' ');
      parts.push(`<polyline fill="none" stroke="${TONES[s.tone].fill}" stroke-width="2" points="${pts}"><title>${escapeXml(s.name)}</title></polyline>`);
      if (n <= 60) {
        parts.push(s.values.map((v, i) => `<circle cx="${r(cx(i))}" cy="${r(y(v))}" r="3" fill="${TONES[s.tone].fill}"><title>${escapeXml(`${labels[i]}: ${s.name} ${amount(v, unit)}`)}</title></circle>`).join(''));
      }
    }
  }
  parts.push(line(left, base, W, base, SUB));

  // x labels: for days, every k-th (k a calendar-friendly step); for buckets, each one, fitted to its slot
  const dayW = textWidth('0000-00-00', 11) + 12;
  const room = Math.max(1, Math.floor(plotW / dayW));
  const every = sparse ? ([1, 2, 3, 7, 14, 28, 56, 91, 182, 364].find((k) => Math.ceil(n / k) <= room) ?? Math.ceil(n / room)) : 1;
  const xs = labels.flatMap((label, i) => {
    if (i % every !== 0) return [];
    const s = sparse ? label : fit(label, slot - 4, 11);
    const half = textWidth(s, 11) / 2;
    return [text(Math.min(Math.max(cx(i), half), W - half), base + 16, s, { anchor: 'middle', size: 11, fill: SUB })];
  });
  parts.push(`<g class="x-labels">${xs.join('')}</g>`);
  return frame(title, summary, desc, base + 26, parts.join('\n'));
}

export function timeSeriesChart(opts: {
  title: string; days: string[]; series: { name: string; values: number[]; tone?: Tone }[]; stacked?: boolean; unit?: string;
}): string {
  const { title, days, unit } = opts;
  const series = toSeries('timeSeriesChart', opts.series, days.length, 'days');
  const perDay = days.map((_, i) => sum(series.map((s) => s.values[i]!)));
  if (days.length === 0 || !perDay.some((v) => v > 0)) return noData(title);
  const n = days.length;
  const busiest = perDay.indexOf(most(perDay));
  const quiet = perDay.filter((v) => v === 0).length;
  const totals = series.map((s) => `${s.name} ${amount(sum(s.values), unit)}`).join(', ');
  const period = n === 1 ? `On ${days[0]}` : `${formatNumber(n)} days from ${days[0]} to ${days[n - 1]}`;
  const byDay = n <= 31 ? ` By day: ${days.map((d, i) => `${d}: ${series.map((s) => `${s.name} ${formatNumber(s.values[i]!)}`).join(', ')}`).join('; ')}.` : '';
  const desc = `${period}. Totals: ${totals}. Busiest day: ${days[busiest]} with ${amount(perDay[busiest]!, unit)}.` +
    (n > 1 ? ` Days with none: ${formatNumber(quiet)}.` : '') + byDay;
  return columnChart(title, days, series, opts.stacked ?? false, unit, true, `${totals} (${period.toLowerCase()})`, desc);
}

export function histogram(opts: { title: string; buckets: { label: string; count: number }[]; unit?: string }): string {
  const { title, unit } = opts;
  const labels = opts.buckets.map((b) => String(b.label));
  const series: Series[] = [{ name: '', values: opts.buckets.map((b) => clean(b.count)), tone: 'neutral' }];
  const counts = series[0]!.values;
  if (!counts.some((v) => v > 0)) return noData(title);
  const total = amount(sum(counts), unit);
  const desc = `${total} in ${formatNumber(labels.length)} buckets: ${labels.map((l, i) => `${l}: ${formatNumber(counts[i]!)}`).join('; ')}.`;
  return columnChart(title, labels, series, true, unit, false, total, desc);
}

// ---- horizontal bars ----

const ROW = 24;
const BAR = 16;

export function barChart(opts: {
  title: string; bars: { label: string; value: number; tone?: Tone; note?: string }[]; unit?: string; max?: number;
}): string {
  const { title, unit } = opts;
  const bars = opts.bars.map((b) => ({ label: String(b.label), value: clean(b.value), tone: toneOr(b.tone, 'neutral'), note: b.note }));
  if (!bars.some((b) => b.value > 0)) return noData(title);
  const said = (b: (typeof bars)[number]): string => amount(b.value, unit) + (b.note ? ` · ${b.note}` : '');
  const labelW = Math.min(200, most(bars.map((b) => textWidth(b.label))) + 8);
  const rightPad = Math.min(220, most(bars.map((b) => textWidth(said(b)))) + 12);
  const x0 = labelW + 8;
  const plotW = W - x0 - rightPad;
  const max = most(bars.map((b) => b.value));
  const fixed = clean(opts.max ?? 0); // a given scale (e.g. 100 for percentages); 0 or junk: from the data
  const scale = niceScale(fixed || max, tickTarget(fixed || max, plotW), bars.every((b) => Number.isInteger(b.value)));
  const top = fixed || scale.top;
  const y0 = 36;
  const rows = bars.map((b, i) => {
    const y = y0 + i * ROW;
    const w = ratio(b.value, top) * plotW;
    return `<g><title>${escapeXml(`${b.label}: ${said(b)}`)}</title>` +
      text(x0 - 6, y + BAR / 2 + 4, fit(b.label, labelW), { anchor: 'end' }) +
      rect(x0, y, w, BAR, TONES[b.tone].fill) +
      text(x0 + w + 6, y + BAR / 2 + 4, fit(said(b), rightPad - 8), { fill: SUB }) + '</g>';
  });
  const y1 = y0 + bars.length * ROW;
  const desc = `${formatNumber(bars.length)} ${bars.length === 1 ? 'item' : 'items'}: ${bars.map((b) => `${b.label}: ${said(b)}`).join('; ')}.`;
  const first = bars.reduce((a, b) => (b.value > a.value ? b : a));
  const summary = `${formatNumber(bars.length)} ${bars.length === 1 ? 'item' : 'items'}, largest ${first.label} with ${amount(first.value, unit)}`;
  return frame(title, summary, desc, y1 + 24, valueAxis(top, scale.step, x0, plotW, y0 - 6, y1 - 4) + '\n' + rows.join('\n'));
}

export function stackedBarChart(opts: {
  title: string; categories: string[]; series: { name: string; values: number[]; tone?: Tone }[]; unit?: string;
}): string {
  const { title, unit } = opts;
  const categories = opts.categories.map(String);
  const series = toSeries('stackedBarChart', opts.series, categories.length, 'categories');
  const totals = categories.map((_, i) => sum(series.map((s) => s.values[i]!)));
  if (!totals.some((v) => v > 0)) return noData(title);
  const leg = legend(series, 30);
  const labelW = Math.min(200, most(categories.map((c) => textWidth(c))) + 8);
  const rightPad = Math.min(160, most(totals.map((t) => textWidth(amount(t, unit)))) + 12);
  const x0 = labelW + 8;
  const plotW = W - x0 - rightPad;
  const integer = series.every((s) => s.values.every(Number.isInteger));
  const { top, step } = niceScale(most(totals), tickTarget(most(totals), plotW), integer);
  const y0 = 30 + leg.height + 12;
  const rows = categories.map((c, i) => {
    const y = y0 + i * ROW;
    let x = x0;
    const segs = series.map((s) => {
      const v = s.values[i]!;
      const w = Math.min(ratio(v, top) * plotW, x0 + plotW - x);
      const label = formatNumber(v);
      const inside = v > 0 && w >= textWidth(label, 10) + 6 ? text(x + w / 2, y + BAR / 2 + 3.5, label, { anchor: 'middle', size: 10, fill: TONES[s.tone].ink }) : '';
      const seg = rect(x, y, w, BAR, TONES[s.tone].fill, `${c}: ${s.name} ${amount(v, unit)}`) + inside;
      x += w;
      return seg;
    });
    return `<g><title>${escapeXml(`${c}: ${amount(totals[i]!, unit)} in all`)}</title>` +
      text(x0 - 6, y + BAR / 2 + 4, fit(c, labelW), { anchor: 'end' }) + segs.join('') +
      text(x + 6, y + BAR / 2 + 4, fit(amount(totals[i]!, unit), rightPad - 8), { fill: SUB }) + '</g>';
  });
  const y1 = y0 + categories.length * ROW;
  const byRow = categories.map((c, i) => `${c}: ${series.map((s) => `${s.name} ${formatNumber(s.values[i]!)}`).join(', ')} (total ${amount(totals[i]!, unit)})`);
  const overall = series.map((s) => `${s.name} ${amount(sum(s.values), unit)}`).join(', ');
  const desc = `${formatNumber(categories.length)} rows. Overall: ${overall}. ${byRow.join('; ')}.`;
  return frame(title, overall, desc, y1 + 24, leg.svg + '\n' + valueAxis(top, step, x0, plotW, y0 - 6, y1 - 4) + '\n' + rows.join('\n'));
}
