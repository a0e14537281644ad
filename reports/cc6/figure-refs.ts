// Every figure index.html shows is a reference into a query result: a <data> element that names
// the query, the row and the column (or the rows it counts), so a test or an auditor can check
// each number against queries/ re-run on the evidence database.
import type { QueryResult } from '../../collectors/query.js';
import { escapeXml, formatNumber } from './charts.js';

export type Where = Record<string, string>;

export class FigureRefs {
  constructor(private readonly results: ReadonlyMap<string, QueryResult>) {}

  result(q: string): QueryResult {
    const r = this.results.get(q);
    if (!r) throw new Error(`index.html refers to query ${q}, which the packet did not run`);
    return r;
  }

  value(q: string, row: number, col: string): unknown {
    const r = this.result(q);
    const i = r.columns.indexOf(col);
    if (i < 0) throw new Error(`query ${q} has no column ${col}`);
    return r.rows[row]?.[i] ?? null;
  }

  /** The row of figures-summary holding `metric`. */
  metricRow(metric: string): number {
    const r = this.result('figures-summary');
    const row = r.rows.findIndex((x) => x[0] === metric);
    if (row < 0) throw new Error(`figures-summary has no metric ${metric}`);
    return row;
  }

  metricValue(metric: string): number | null {
    const v = this.value('figures-summary', this.metricRow(metric), 'value');
    return v === null ? null : Number(v);
  }

  /** A summary figure, as a <data> reference. */
  metric(metric: string, unit?: string): string {
    return this.cell('figures-summary', this.metricRow(metric), 'value', unit);
  }

  /** One cell of a query result, as a <data> reference. */
  cell(q: string, row: number, col: string, unit?: string): string {
    const v = this.value(q, row, col);
    const shown = v === null ? '–' : typeof v === 'number' ? formatNumber(v) : String(v);
    return `<data value="${escapeXml(v === null ? '' : String(v))}" data-q="${escapeXml(q)}" data-row="${row}" data-col="${escapeXml(col)}">${escapeXml(shown)}${unit ? ` ${escapeXml(unit)}` : ''}</data>`;
  }

  countOf(q: string, where: Where = {}): number {
    const r = this.result(q);
    const cols = Object.entries(where).map(([c, v]) => [r.columns.indexOf(c), v] as const);
    return r.rows.filter((row) => cols.every(([i, v]) => String(row[i]) === v)).length;
  }

  /** The number of rows of a result (matching `where`), as a <data> reference. */
  count(q: string, where: Where = {}): string {
    const n = this.countOf(q, where);
    return `<data value="${n}" data-q="${escapeXml(q)}" data-count="${escapeXml(JSON.stringify(where))}">${formatNumber(n)}</data>`;
  }

  /** Row indexes of a result matching `where`. */
  rows(q: string, where: Where = {}): number[] {
    const r = this.result(q);
    const cols = Object.entries(where).map(([c, v]) => [r.columns.indexOf(c), v] as const);
    return r.rows.flatMap((row, i) => (cols.every(([j, v]) => String(row[j]) === v) ? [i] : []));
  }
}
