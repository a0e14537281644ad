// Resolves RowDescription column origins (table OID + attribute number) to schema.table.column
// through the upstream catalog, with a cache. Views and materialized views are followed to their
// base columns through the view's stored query (pg_rewrite); inheritance children and partitions
// also answer to their ancestors' names. See docs/masking.md "Where a column comes from".
import { parseViewTargets, type ViewTarget } from './view-targets.js';

/** Anything with node-postgres' `query(text, values)`: a pg.Pool or a connected pg.Client. */
export interface CatalogQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface QualifiedTable {
  schema: string;
  table: string;
}

export interface ColumnOrigin extends QualifiedTable {
  column: string;
}

export interface ResolvedColumn {
  /** The relation RowDescription names (a table, partition, view, materialized view, foreign table). */
  relation: QualifiedTable & { relkind: string };
  /** Its column; null for a whole-row reference (attnum 0, e.g. `select c from customers c`). */
  column: string | null;
  /**
   * Every name the value is known by: the column itself, the same column of inheritance
   * ancestors (partitioned parents), and through views the base column(s) and theirs.
   */
  sources: ColumnOrigin[];
  /** True when the value is a whole row (of `tables`), not one column. */
  wholeRow: boolean;
  /** False when a view on the way computes the value (expression, aggregate, set operation): only `tables` is known. */
  exact: boolean;
  /** Tables the value may come from: the relation, its ancestors, and everything a view reads (recursively). */
  tables: QualifiedTable[];
  /** True when a view or materialized view was followed. */
  viaView: boolean;
}

export interface TableColumns extends QualifiedTable {
  relkind: string;
  /** Column names in attnum order (attnum > 0, not dropped): the order of COPY t TO output. */
  columns: string[];
  /** Type OIDs of those columns (a domain's base type). */
  types: number[];
  ancestors: QualifiedTable[];
  /** True when the name was unqualified and a relation of the same name exists in another schema. */
  ambiguous: boolean;
}

export interface CatalogResolverOptions {
  /** Cache lifetime of an entry in ms (default 60 s). DDL through the gateway should call invalidate(). */
  ttlMs?: number;
  /** How many views deep to follow (default 16). */
  maxViewDepth?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** The subset of a RowDescription field the resolver needs. */
export interface FieldOrigin {
  tableID: number;
  columnID: number;
}

interface RawColumn {
  missing: boolean;
  schema: string;
  table: string;
  relkind: string;
  column: string | null;
  ancestors: QualifiedTable[];
}

interface ViewInfo {
  /** null: the rule action could not be read; every column is of unknown origin. */
  targets: Map<number, ViewTarget | null> | null;
  deps: QualifiedTable[];
}

interface Entry<T> {
  value: T;
  at: number;
  generation: number;
}

const key = (relid: number, attnum: number): string => `${relid}:${attnum}`;

const ANCESTORS_SQL = `(select json_agg(json_build_array(an.nspname, ac.relname)) from (
    with recursive anc(oid, depth) as (
      select i.inhparent, 1 from pg_inherits i where i.inhrelid = c.oid
      union
      select i.inhparent, anc.depth + 1 from pg_inherits i join anc on i.inhrelid = anc.oid where anc.depth < 32)
    select distinct oid from anc) x
  join pg_class ac on ac.oid = x.oid join pg_namespace an on an.oid = ac.relnamespace)`;

const VIEW_DEPS_SQL = `(select json_agg(json_build_array(dn.nspname, dc.relname)) from (
    with recursive deps(oid, depth) as (
      select d.refobjid, 1 from pg_rewrite r
        join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid
        where r.ev_class = c.oid and d.refclassid = 'pg_class'::regclass and d.refobjid <> c.oid
      union
      select d.refobjid, deps.depth + 1 from deps
        join pg_rewrite r on r.ev_class = deps.oid
        join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid
        where d.refclassid = 'pg_class'::regclass and d.refobjid <> deps.oid and deps.depth < 32)
    select distinct oid from deps) x
  join pg_class dc on dc.oid = x.oid join pg_namespace dn on dn.oid = dc.relnamespace)`;

/**
 * One query resolves every uncached (relid, attnum) of a RowDescription; for views not yet read
 * it also returns the rule action and dependencies (once per view: on the row with its smallest
 * requested attnum).
 */
const RESOLVE_SQL = `with q as (select distinct relid, attnum from unnest($1::oid[], $2::int2[]) as q(relid, attnum)),
first as (select relid, min(attnum) as attnum from q group by relid)
select q.relid::text as relid, q.attnum::int as attnum, n.nspname as schema, c.relname as "table",
  c.relkind::text as relkind, a.attname as "column", coalesce(a.attisdropped, false) as dropped,
  ${ANCESTORS_SQL} as ancestors,
  case when c.relkind in ('v', 'm') and f.relid is not null and not (q.relid = any($3::oid[]))
    then (select r.ev_action::text from pg_rewrite r where r.ev_class = c.oid and r.rulename = '_RETURN') end as action,
  case when c.relkind in ('v', 'm') and f.relid is not null and not (q.relid = any($3::oid[]))
    then coalesce(${VIEW_DEPS_SQL}, '[]'::json) end as deps
from q
left join first f on f.relid = q.relid and f.attnum = q.attnum
left join pg_class c on c.oid = q.relid
left join pg_namespace n on n.oid = c.relnamespace
left join pg_attribute a on a.attrelid = q.relid and a.attnum = q.attnum`;

const TABLE_COLUMNS_SQL = `select n.nspname as schema, c.relname as "table", c.relkind::text as relkind,
  array(select a.attname::text from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum) as columns,
  array(select coalesce(nullif(t.typbasetype, 0), t.oid)::text from pg_attribute a join pg_type t on t.oid = a.atttypid
        where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum) as types,
  ${ANCESTORS_SQL} as ancestors,
  (select count(*) from pg_class c2 where c2.relname = c.relname and c2.oid <> c.oid and c2.relkind in ('r', 'p', 'v', 'm', 'f'))::int as same_name
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.oid = to_regclass(case when $1::text is null then quote_ident($2::text) else quote_ident($1::text) || '.' || quote_ident($2::text) end)`;

/** The tables behind named relations: each relation itself, plus everything a view reads (recursively). */
const BASE_TABLES_SQL = `with r as (
  select to_regclass(case when s is null then quote_ident(n) else quote_ident(s) || '.' || quote_ident(n) end) as oid
  from unnest($1::text[], $2::text[]) as u(s, n))
select n.nspname as schema, c.relname as "table", c.relkind::text as relkind,
  case when c.relkind in ('v', 'm') then coalesce(${VIEW_DEPS_SQL}, '[]'::json) end as deps
from r join pg_class c on c.oid = r.oid join pg_namespace n on n.oid = c.relnamespace`;

interface BaseTablesRow {
  schema: string;
  table: string;
  relkind: string;
  deps: [string, string][] | null;
}

interface ResolveRow {
  relid: string;
  attnum: number;
  schema: string | null;
  table: string | null;
  relkind: string | null;
  column: string | null;
  dropped: boolean;
  ancestors: [string, string][] | null;
  action: string | null;
  deps: [string, string][] | null;
}

interface TableColumnsRow {
  schema: string;
  table: string;
  relkind: string;
  columns: string[];
  types: string[];
  ancestors: [string, string][] | null;
  same_name: number;
}

const pairs = (v: [string, string][] | null): QualifiedTable[] => (v ?? []).map(([schema, table]) => ({ schema, table }));

export class CatalogResolver {
  private readonly ttl: number;
  private readonly maxDepth: number;
  private readonly now: () => number;
  private columns = new Map<string, Entry<RawColumn>>();
  private views = new Map<number, Entry<ViewInfo>>();
  private tables = new Map<string, Entry<TableColumns | null>>();
  /** Bumped by invalidate(): results of queries started before are not cached. */
  private generation = 0;
  /** Catalog round trips so far (tests, metrics). */
  queries = 0;

  constructor(
    private readonly db: CatalogQueryable,
    opts: CatalogResolverOptions = {},
  ) {
    this.ttl = opts.ttlMs ?? 60_000;
    this.maxDepth = opts.maxViewDepth ?? 16;
    this.now = opts.now ?? Date.now;
  }

  /** Forget everything (the gateway calls this after DDL). */
  invalidate(): void {
    this.generation++;
    this.columns.clear();
    this.views.clear();
    this.tables.clear();
  }

  private fresh<T>(e: Entry<T> | undefined): e is Entry<T> {
    return e !== undefined && e.generation === this.generation && this.now() - e.at < this.ttl;
  }

  /**
   * Resolves each field's origin; null for expressions (tableID 0) and for OIDs the catalog does
   * not know (dropped meanwhile). Throws when the catalog cannot be queried.
   */
  async resolve(fields: readonly FieldOrigin[]): Promise<(ResolvedColumn | null)[]> {
    let want = fields.filter((f) => f.tableID !== 0).map((f) => ({ relid: f.tableID, attnum: f.columnID }));
    for (let depth = 0; want.length > 0 && depth <= this.maxDepth; depth++) {
      await this.load(want);
      // base columns of views read in this round
      const next: { relid: number; attnum: number }[] = [];
      for (const w of want) {
        const raw = this.columns.get(key(w.relid, w.attnum))?.value;
        if (!raw || raw.missing || (raw.relkind !== 'v' && raw.relkind !== 'm')) continue;
        const target = this.views.get(w.relid)?.value.targets?.get(w.attnum);
        if (!target) continue;
        const base = this.columns.get(key(target.relid, target.attnum));
        const baseIsView = base !== undefined && (base.value.relkind === 'v' || base.value.relkind === 'm');
        if (!this.fresh(base) || baseIsView) next.push(target); // load() skips what is fresh
      }
      want = next;
    }
    return fields.map((f) => (f.tableID === 0 ? null : this.compose(f.tableID, f.columnID, 0)));
  }

  /**
   * The same answer as resolve() when everything it needs is cached and fresh, without waiting;
   * null on any miss. The relay uses it to keep a result's hot path synchronous.
   */
  resolveCached(fields: readonly FieldOrigin[]): (ResolvedColumn | null)[] | null {
    for (const f of fields) {
      if (f.tableID !== 0 && !this.cachedChain(f.tableID, f.columnID, 0)) return null;
    }
    return fields.map((f) => (f.tableID === 0 ? null : this.compose(f.tableID, f.columnID, 0)));
  }

  /** The column, and through views its base columns, are all fresh in the cache. */
  private cachedChain(relid: number, attnum: number, depth: number): boolean {
    const entry = this.columns.get(key(relid, attnum));
    if (!this.fresh(entry)) return false;
    const raw = entry.value;
    if (raw.missing || (raw.relkind !== 'v' && raw.relkind !== 'm')) return true;
    const view = this.views.get(relid);
    if (!this.fresh(view)) return false;
    const target = view.value.targets?.get(attnum);
    if (!target) return true;
    return depth < this.maxDepth && this.cachedChain(target.relid, target.attnum, depth + 1);
  }

  private async load(want: { relid: number; attnum: number }[]): Promise<void> {
    const missing = new Map<string, { relid: number; attnum: number }>();
    for (const w of want) {
      const k = key(w.relid, w.attnum);
      if (!this.fresh(this.columns.get(k))) missing.set(k, w);
      else {
        const raw = this.columns.get(k)!.value;
        // a cached view column whose view info expired: fetch again
        if ((raw.relkind === 'v' || raw.relkind === 'm') && !this.fresh(this.views.get(w.relid))) missing.set(k, w);
      }
    }
    if (missing.size === 0) return;
    const list = [...missing.values()];
    // views of this batch whose rule we already read: not fetched again
    const knownViews = [...new Set(list.map((w) => w.relid))].filter((oid) => this.fresh(this.views.get(oid)));
    const generation = this.generation;
    this.queries++;
    const { rows } = await this.db.query(RESOLVE_SQL, [
      list.map((w) => w.relid),
      list.map((w) => w.attnum),
      knownViews,
    ]);
    // Entries fetched across an invalidate() carry the old generation: this call composes from
    // them, later calls see them as stale and fetch again.
    const at = this.now();
    for (const r of rows as ResolveRow[]) {
      const relid = Number(r.relid);
      const missing = r.relkind === null || (r.attnum !== 0 && (r.column === null || r.dropped));
      this.columns.set(key(relid, r.attnum), {
        at,
        generation,
        value: {
          missing,
          schema: r.schema ?? '',
          table: r.table ?? '',
          relkind: r.relkind ?? '',
          column: r.attnum === 0 ? null : r.column,
          ancestors: pairs(r.ancestors),
        },
      });
      if (r.deps !== null) {
        const targets = r.action ? parseViewTargets(r.action) : null;
        this.views.set(relid, { at, generation, value: { targets, deps: pairs(r.deps) } });
      }
    }
  }

  private raw(relid: number, attnum: number): RawColumn | undefined {
    return this.columns.get(key(relid, attnum))?.value;
  }

  private view(relid: number): ViewInfo | undefined {
    return this.views.get(relid)?.value;
  }

  private compose(relid: number, attnum: number, depth: number): ResolvedColumn | null {
    const raw = this.raw(relid, attnum);
    if (!raw || raw.missing) return null;
    const relation = { schema: raw.schema, table: raw.table, relkind: raw.relkind };
    const out: ResolvedColumn = {
      relation,
      column: raw.column,
      sources: [],
      wholeRow: raw.column === null,
      exact: true,
      tables: [{ schema: raw.schema, table: raw.table }, ...raw.ancestors],
      viaView: false,
    };
    if (raw.column !== null) {
      out.sources.push({ schema: raw.schema, table: raw.table, column: raw.column });
      for (const a of raw.ancestors) out.sources.push({ ...a, column: raw.column });
    }
    if (raw.relkind === 'v' || raw.relkind === 'm') {
      out.viaView = true;
      const view = this.view(relid);
      if (!view || depth >= this.maxDepth) {
        out.exact = false;
        return out;
      }
      out.tables.push(...view.deps);
      if (raw.column === null) return out; // whole row of the view: every table it reads
      const target = view.targets?.get(attnum);
      const base = target ? this.compose(target.relid, target.attnum, depth + 1) : null;
      if (!base) {
        out.exact = false;
        return out;
      }
      out.sources.push(...base.sources);
      out.tables.push(...base.tables);
      out.exact = base.exact;
      out.wholeRow = base.wholeRow;
    }
    return out;
  }

  /**
   * Columns of a table in attnum order, for COPY t TO STDOUT (no RowDescription there). An
   * unqualified name resolves with the catalog connection's search_path (to_regclass); because the
   * session's search_path may differ, `ambiguous` says when the name exists in another schema too.
   * null when there is no such relation.
   */
  async tableColumns(schema: string | null, name: string): Promise<TableColumns | null> {
    const k = `${schema ?? ''}\u0000${name}`;
    const cached = this.tables.get(k);
    if (this.fresh(cached)) return cached.value;
    const generation = this.generation;
    this.queries++;
    const { rows } = await this.db.query(TABLE_COLUMNS_SQL, [schema, name]);
    const r = rows[0] as TableColumnsRow | undefined;
    const value: TableColumns | null = r
      ? {
          schema: r.schema,
          table: r.table,
          relkind: r.relkind,
          columns: r.columns,
          types: r.types.map(Number),
          ancestors: pairs(r.ancestors),
          ambiguous: schema === null && r.same_name > 0,
        }
      : null;
    this.tables.set(k, { at: this.now(), generation, value });
    return value;
  }

  /**
   * The tables behind relations a statement names: each relation, and for views and materialized
   * views every relation they read, recursively (pg_depend of their rewrite rule). The gateway uses
   * it to tell whether a statement reading a view touches a classified table, before it runs.
   * Unqualified names resolve with the catalog connection's search_path; unknown names are skipped.
   */
  async baseTables(relations: readonly { schema: string | null; name: string }[]): Promise<QualifiedTable[]> {
    if (relations.length === 0) return [];
    this.queries++;
    const { rows } = await this.db.query(BASE_TABLES_SQL, [relations.map((r) => r.schema), relations.map((r) => r.name)]);
    const seen = new Set<string>();
    const out: QualifiedTable[] = [];
    const add = (t: QualifiedTable): void => {
      const k = `${t.schema}\u0000${t.table}`;
      if (seen.has(k)) return;
      seen.add(k);
      out.push(t);
    };
    for (const r of rows as BaseTablesRow[]) {
      add({ schema: r.schema, table: r.table });
      for (const d of pairs(r.deps)) add(d);
    }
    return out;
  }
}
