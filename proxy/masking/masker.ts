// ResultMasker: what the session layer drives per statement. It sees the statement's result
// messages in order (RowDescription, DataRows, CopyOutResponse, CopyData, ErrorResponse/Notice)
// and returns what to forward. Everything about the statement is fixed at construction.
import type { FieldOrigin, ResolvedColumn, TableColumns } from './catalog.js';
import { copyTextOptions, maskCopyTextRow, binaryCopyRefusal, type CopyTextFormat, type CopyTextOptions } from './copy.js';
import { maskDataRow, MaskingError } from './datarow.js';
import type { DetectorHits } from './detectors.js';
import { maskErrorOrNotice } from './messages.js';
import type { MaskMethod } from './methods.js';
import {
  blindRowPlan,
  buildRowPlan,
  maskRules,
  mergeCounts,
  rulesActive,
  type MaskReason,
  type MaskRules,
  type MaskRulesInput,
  type PlanField,
  type RowPlan,
} from './plan.js';
import { expandFormats, readCopyOutResponse, readRowDescription } from './wire.js';

/** What the masker needs from the catalog (CatalogResolver implements it). */
export interface OriginResolver {
  resolve(fields: readonly FieldOrigin[]): Promise<(ResolvedColumn | null)[]>;
  /** resolve()'s answer when it is all cached, else null (optional: keeps cached results synchronous). */
  resolveCached?(fields: readonly FieldOrigin[]): (ResolvedColumn | null)[] | null;
  tableColumns(schema: string | null, name: string): Promise<TableColumns | null>;
}

export interface ResultMaskerOptions extends MaskRulesInput {
  resolver: OriginResolver;
  /** Bind's result-format codes, when the statement runs through the extended protocol. */
  resultFormats?: readonly number[];
}

/** What the session knows about a COPY ... TO STDOUT from the statement (analyzer facts and options). */
export interface CopyOutFacts {
  /** COPY table TO: the table as written (schema null when unqualified); null for COPY (query) TO. */
  table: { schema: string | null; name: string } | null;
  /** COPY table (a, b) TO: the column list; absent or null for all columns. */
  columns?: readonly string[] | null;
  /** FORMAT option: text (default), csv, binary. */
  format?: string | null;
  delimiter?: string | null;
  null?: string | null;
  quote?: string | null;
  escape?: string | null;
  /** HEADER option. The header passes unmasked only when it is exactly the expected column names. */
  header?: boolean | null;
}

export interface MaskedColumnCount {
  column: string;
  method: MaskMethod;
  reason: MaskReason;
  count: number;
}

interface CopyState {
  plan: RowPlan;
  options: CopyTextOptions;
  headerPending: boolean;
  expectedHeader: string[] | null;
}

const TYPE_COPY_DATA = 0x64;

export class ResultMasker {
  readonly rules: MaskRules;
  /** Set when the catalog could not be queried: origins were treated as unresolved (fail closed). */
  catalogError: Error | null = null;
  private readonly resolver: OriginResolver;
  private bindFormats: readonly number[] | null;
  private plan: RowPlan | null = null;
  private formats: number[] = [];
  private readonly plans: RowPlan[] = [];
  private copy: CopyState | null = null;
  private copyPassThrough = false;

  constructor(opts: ResultMaskerOptions) {
    this.rules = maskRules(opts);
    this.resolver = opts.resolver;
    this.bindFormats = opts.resultFormats ?? null;
  }

  /** False when nothing of this statement can be masked: the gateway may skip the masker. */
  get active(): boolean {
    return rulesActive(this.rules);
  }

  /** Bind's result-format codes (a RowDescription answering Describe of a *statement* always says text). */
  setResultFormats(codes: readonly number[]): void {
    this.bindFormats = codes;
    if (this.plan) this.formats = expandFormats(codes, this.plan.columns.length);
  }

  /**
   * Resolves the columns' origins through the catalog and plans the masking. Returns the message to
   * forward (unchanged). Await it before handing over the DataRows that follow. A RowDescription
   * seen earlier (Describe of a prepared statement) may be given again for a later execution.
   */
  onRowDescription(message: Buffer): Buffer | Promise<Buffer> {
    const fields = readRowDescription(message);
    if (!this.active || !fields.some((f) => f.tableID !== 0)) {
      this.planFor(fields, fields.map(() => null));
      return message;
    }
    // Cached origins (the common case after a result shape was seen once): no waiting.
    const cached = this.resolver.resolveCached?.(fields);
    if (cached) {
      this.planFor(fields, cached);
      return message;
    }
    return this.resolver.resolve(fields).then(
      (resolved) => {
        this.planFor(fields, resolved);
        return message;
      },
      (err: unknown) => {
        this.catalogError = err instanceof Error ? err : new Error(String(err));
        this.planFor(fields, fields.map(() => null));
        return message;
      },
    );
  }

  private planFor(fields: ReturnType<typeof readRowDescription>, resolved: (ResolvedColumn | null)[]): void {
    const planFields: PlanField[] = fields.map((f, i) => ({
      name: f.name,
      typeOid: f.dataTypeID,
      expression: f.tableID === 0,
      resolved: resolved[i] ?? null,
    }));
    this.usePlan(buildRowPlan(this.rules, planFields));
    this.formats = this.bindFormats ? expandFormats(this.bindFormats, fields.length) : fields.map((f) => f.format);
  }

  private usePlan(plan: RowPlan): void {
    this.plan = plan;
    this.plans.push(plan);
  }

  /** Masks a DataRow. Synchronous; returns the same Buffer when nothing in the row changes. */
  onDataRow(message: Buffer): Buffer {
    if (!this.plan) {
      if (!this.active) return message;
      // No RowDescription to plan from: every column is of unknown origin and type (NULL when masked).
      this.usePlan(blindRowPlan(this.rules, message.readInt16BE(5)));
      this.formats = this.bindFormats ? expandFormats(this.bindFormats, this.plan!.columns.length) : [];
    }
    return maskDataRow(message, this.plan!, this.formats);
  }

  /**
   * Plans the masking of a COPY ... TO STDOUT. Throws MaskingError for binary COPY of sensitive data
   * (the gateway should have refused it before it ran: see binaryCopyRefusal).
   */
  async onCopyOutResponse(message: Buffer, facts: CopyOutFacts): Promise<Buffer> {
    const shape = readCopyOutResponse(message);
    const n = shape.columnFormats.length;
    this.copy = null;
    this.copyPassThrough = !this.active;
    if (!this.active) return message;

    let table: TableColumns | null = null;
    if (facts.table) {
      try {
        table = await this.resolver.tableColumns(facts.table.schema, facts.table.name);
      } catch (err) {
        this.catalogError = err instanceof Error ? err : new Error(String(err));
      }
    }
    const tableSensitive = table !== null && [{ schema: table.schema, table: table.table }, ...table.ancestors].some((t) => this.rules.tables.has(`${t.schema}.${t.table}`.toLowerCase()));
    if (shape.format === 1) {
      const refusal = binaryCopyRefusal('binary', this.rules.sensitive || tableSensitive || (facts.table !== null && table === null));
      if (refusal) throw new MaskingError(refusal);
      this.copyPassThrough = true;
      return message;
    }

    let names: string[] | null = null;
    let types: number[] = [];
    if (table && !table.ambiguous) {
      if (facts.columns && facts.columns.length > 0) {
        const byName = new Map(table.columns.map((c, i) => [c, table!.types[i] ?? 0]));
        if (facts.columns.every((c) => byName.has(c))) {
          names = [...facts.columns];
          types = names.map((c) => byName.get(c)!);
        }
      } else {
        names = table.columns;
        types = table.types;
      }
      if (names && names.length !== n) names = null;
    }
    const fields: PlanField[] =
      names && table
        ? names.map((column, i) => ({
            name: column,
            typeOid: types[i] ?? 0,
            expression: false,
            resolved: {
              relation: { schema: table.schema, table: table.table, relkind: table.relkind },
              column,
              sources: [{ schema: table.schema, table: table.table, column }, ...table.ancestors.map((a) => ({ ...a, column }))],
              wholeRow: false,
              exact: true,
              tables: [{ schema: table.schema, table: table.table }, ...table.ancestors],
              viaView: false,
            },
          }))
        : // COPY (query) TO, or a table we could not place: columns of unknown origin. COPY output is
          // text, so a masked field reads as the placeholder (type text), not as NULL.
          Array.from({ length: n }, (_, i) => ({
            name: `column${i + 1}`,
            typeOid: 25,
            expression: facts.table === null,
            resolved: null,
          }));
    const plan = buildRowPlan(this.rules, fields);
    this.plans.push(plan);
    const format: CopyTextFormat = (facts.format ?? '').toLowerCase() === 'csv' ? 'csv' : 'text';
    const opt = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);
    this.copy = {
      plan,
      options: copyTextOptions(format, {
        delimiter: opt(facts.delimiter),
        null: opt(facts.null),
        quote: opt(facts.quote),
        escape: opt(facts.escape),
      }),
      headerPending: facts.header === true,
      expectedHeader: names,
    };
    return message;
  }

  /** Masks a CopyData message of COPY ... TO STDOUT. */
  onCopyData(message: Buffer): Buffer {
    if (message[0] !== TYPE_COPY_DATA) return message;
    if (this.copyPassThrough) return message;
    const copy = this.copy;
    if (!copy) {
      if (!this.active) return message;
      throw new MaskingError('CopyData without a CopyOutResponse: cannot mask it');
    }
    const payload = message.subarray(5);
    if (copy.headerPending) {
      copy.headerPending = false;
      if (copy.expectedHeader && this.isHeader(payload, copy)) return message;
    }
    const out = maskCopyTextRow(payload, copy.plan, copy.options.format, copy.options.delimiter, copy.options);
    if (out === payload) return message;
    const msg = Buffer.allocUnsafe(5 + out.length);
    msg[0] = TYPE_COPY_DATA;
    msg.writeInt32BE(4 + out.length, 1);
    out.copy(msg, 5);
    return msg;
  }

  private isHeader(payload: Buffer, copy: CopyState): boolean {
    const line = payload.toString('utf8').replace(/\r?\n$/, '');
    const o = copy.options;
    const expected = copy.expectedHeader!;
    // PostgreSQL writes header names like values: quoted (csv) or escaped (text) when needed.
    const render = (name: string): string[] =>
      o.format === 'csv'
        ? [name, `${o.quote}${name.replaceAll(o.quote, o.escape + o.quote)}${o.quote}`]
        : [name.replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!)];
    const parts = line.split(o.delimiter);
    return parts.length === expected.length && parts.every((p, i) => render(expected[i]!).includes(p));
  }

  /** Masks an ErrorResponse or NoticeResponse (same Buffer when unchanged). */
  onErrorOrNotice(message: Buffer): Buffer {
    return maskErrorOrNotice(message, this.rules);
  }

  /** The current result plan (diagnostics, tests). */
  currentPlan(): RowPlan | null {
    return this.plan;
  }

  /** Masked values per column and method, for the statement record (values are never recorded). */
  counts(): MaskedColumnCount[] {
    return mergeCounts(this.plans);
  }

  /** Detector matches per detector name. */
  detectorHits(): DetectorHits {
    return { ...this.rules.hits };
  }
}
