// One recursive walk over a statement's parse tree that collects what the policy needs: tables
// (with read/write/ddl access), columns, functions, $n parameters and the data-changing
// operations of every INSERT/UPDATE/DELETE/MERGE met on the way (data-modifying CTEs included).
// It walks the JSON objects libpg-query returns as they are: no re-serialisation, no copies.
import { type AstObject, isObject, nodeTypeOf, qualifiedName, stringList, str, unwrap, asArray } from './ast.js';
import type { ColumnRef, FunctionRef, Operation, StatementFacts, TableAccess, TableRef } from './facts.js';

/**
 * What the walker must know about particular fields, keyed by node type then field name:
 * - `type`: fields typed as one specific struct are stored bare (no `{Type: ...}` wrapper), so the
 *   walker is told their type: those whose type matters (RangeVar, SelectStmt, FuncCall,
 *   IntoClause, ...) or that are worth skipping (TypeName). Derived from @pgsql/types 18; a bare
 *   field missing here is still walked, just without knowing its type.
 * - `access`: the access of the relation(s) the field names when not a plain read; it applies to
 *   the RangeVar(s) directly in that field, never deeper. null: the RangeVar names something that
 *   is not a table (a composite type, a constraint).
 */
interface FieldRule {
  type?: string;
  access?: TableAccess | null;
}

const RULES: Record<string, Record<string, FieldRule>> = {
  InsertStmt: { relation: { type: 'RangeVar', access: 'write' } },
  UpdateStmt: { relation: { type: 'RangeVar', access: 'write' } },
  DeleteStmt: { relation: { type: 'RangeVar', access: 'write' } },
  MergeStmt: { relation: { type: 'RangeVar', access: 'write' } },
  SelectStmt: { larg: { type: 'SelectStmt' }, rarg: { type: 'SelectStmt' }, intoClause: { type: 'IntoClause' } },
  PLAssignStmt: { val: { type: 'SelectStmt' } },
  IntoClause: { rel: { type: 'RangeVar', access: 'ddl' } },
  CreateTableAsStmt: { into: { type: 'IntoClause' } },
  CallStmt: { funccall: { type: 'FuncCall' } },
  CopyStmt: { relation: { type: 'RangeVar' } },
  CreateStmt: { relation: { type: 'RangeVar', access: 'ddl' }, ofTypename: { type: 'TypeName' } },
  CreateForeignTableStmt: { base: { type: 'CreateStmt' } },
  TableLikeClause: { relation: { type: 'RangeVar' } },
  ColumnDef: { identitySequence: { type: 'RangeVar' }, typeName: { type: 'TypeName' } },
  Constraint: { pktable: { type: 'RangeVar' } },
  PartitionCmd: { name: { type: 'RangeVar', access: 'ddl' } },
  AlterTableStmt: { relation: { type: 'RangeVar', access: 'ddl' } },
  CreatePolicyStmt: { table: { type: 'RangeVar', access: 'ddl' } },
  AlterPolicyStmt: { table: { type: 'RangeVar', access: 'ddl' } },
  CreateTrigStmt: { relation: { type: 'RangeVar', access: 'ddl' }, constrrel: { type: 'RangeVar' } },
  CreateSeqStmt: { sequence: { type: 'RangeVar', access: 'ddl' } },
  AlterSeqStmt: { sequence: { type: 'RangeVar', access: 'ddl' } },
  IndexStmt: { relation: { type: 'RangeVar', access: 'ddl' } },
  RenameStmt: { relation: { type: 'RangeVar', access: 'ddl' } },
  AlterObjectDependsStmt: { relation: { type: 'RangeVar', access: 'ddl' } },
  AlterObjectSchemaStmt: { relation: { type: 'RangeVar', access: 'ddl' } },
  AlterOwnerStmt: { relation: { type: 'RangeVar', access: 'ddl' } },
  RuleStmt: { relation: { type: 'RangeVar', access: 'ddl' } },
  CompositeTypeStmt: { typevar: { type: 'RangeVar', access: null } },
  ViewStmt: { view: { type: 'RangeVar', access: 'ddl' } },
  RefreshMatViewStmt: { relation: { type: 'RangeVar', access: 'ddl' } },
  CreateStatsStmt: { relations: { access: 'ddl' } },
  TruncateStmt: { relations: { access: 'ddl' } },
  GrantStmt: { objects: { access: 'ddl' } },
  ConstraintsSetStmt: { constraints: { access: null } },
  ClusterStmt: { relation: { type: 'RangeVar' } },
  VacuumRelation: { relation: { type: 'RangeVar' } },
  ReindexStmt: { relation: { type: 'RangeVar' } },
  PublicationTable: { relation: { type: 'RangeVar' } },
  PublicationObjSpec: { pubtable: { type: 'PublicationTable' } },
  AlterDefaultPrivilegesStmt: { action: { type: 'GrantStmt' } },
  TypeCast: { typeName: { type: 'TypeName' } },
  CreateFunctionStmt: { returnType: { type: 'TypeName' } },
  FunctionParameter: { argType: { type: 'TypeName' } },
};

// Maps, not object lookups: field names such as "constructor" (JsonObjectAgg) must not hit
// Object.prototype.
const FIELD_RULES = new Map<string, Map<string, FieldRule>>(
  Object.entries(RULES).map(([type, fields]) => [type, new Map(Object.entries(fields))]),
);

/** Node types with nothing the policy needs below them. */
const LEAVES = new Set(['A_Const', 'String', 'Integer', 'Float', 'Boolean', 'BitString', 'A_Star', 'TypeName', 'RoleSpec', 'Alias']);

const DML_OPERATION: Record<string, Operation['kind']> = {
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
};

export function tableName(rangeVar: AstObject): { schema: string | null; name: string } | null {
  const name = str(rangeVar.relname);
  if (name === undefined) return null;
  return { schema: str(rangeVar.schemaname) ?? null, name };
}

/** Dedup-key part for a nullable qualifier: null and '' must differ (identifiers never hold NUL). */
function qualifier(value: string | null): string {
  return value === null ? '\0-' : '\0+' + value;
}

/** Collects the facts of one statement; deduplicates as it goes, keeping first-seen order. */
export class Collector {
  readonly tables: TableRef[] = [];
  readonly columns: ColumnRef[] = [];
  readonly functions: FunctionRef[] = [];
  readonly operations: Operation[] = [];
  maxParam = 0;
  private readonly seen = new Set<string>();
  /** CTE names in scope, innermost WITH last. */
  private readonly cteScopes: string[][] = [];

  addTable(schema: string | null, name: string, access: TableAccess): void {
    const key = `t${qualifier(schema)}\0${name}\0${access}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.tables.push({ schema, name, access });
  }

  addColumn(table: string | null, name: string): void {
    const key = `c${qualifier(table)}\0${name}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.columns.push({ table, name });
  }

  addFunction(schema: string | null, name: string): void {
    const key = `f${qualifier(schema)}\0${name}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.functions.push({ schema, name });
  }

  /** Takes over the tables, columns and functions of facts already made (EXECUTE of a known statement). */
  absorb(facts: Pick<StatementFacts, 'tables' | 'columns' | 'functions'>): void {
    for (const t of facts.tables) this.addTable(t.schema, t.name, t.access);
    for (const c of facts.columns) this.addColumn(c.table, c.name);
    for (const f of facts.functions) this.addFunction(f.schema, f.name);
  }

  /** Walks a wrapped node, a list of them, or anything else (ignored). */
  node(value: unknown): void {
    if (Array.isArray(value)) {
      for (const item of value) this.node(item);
      return;
    }
    if (!isObject(value)) return;
    const type = nodeTypeOf(value);
    if (type !== undefined) this.visit(type, value[type] as AstObject, undefined);
  }

  /**
   * Visits one node body. `access` is the access of the field it sits in (FieldRule.access);
   * it only matters to a RangeVar.
   */
  visit(type: string, body: AstObject, access: TableAccess | null | undefined): void {
    if (!isObject(body)) return;
    switch (type) {
      case 'RangeVar':
        this.rangeVar(body, access);
        return;
      case 'ColumnRef':
        this.columnRef(body);
        return;
      case 'ParamRef':
        if (typeof body.number === 'number' && body.number > this.maxParam) this.maxParam = body.number;
        return;
      case 'FuncCall': {
        const fn = qualifiedName(stringList(body.funcname));
        if (fn !== null) this.addFunction(fn.schema, fn.name);
        this.fields(type, body, 'funcname');
        return;
      }
      case 'SelectStmt':
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        this.dml(type, body);
        return;
      default:
        if (!LEAVES.has(type)) this.fields(type, body, undefined);
    }
  }

  /** Walks every object-valued field of a node body, except `skip`. */
  fields(type: string, body: AstObject, skip: string | undefined): void {
    const rules = FIELD_RULES.get(type);
    for (const key in body) {
      if (key === skip) continue;
      const value = body[key];
      if (typeof value !== 'object' || value === null) continue;
      const rule = rules?.get(key);
      if (Array.isArray(value)) {
        for (const item of value) this.field(item, rule);
      } else {
        this.field(value, rule);
      }
    }
  }

  private field(value: unknown, rule: FieldRule | undefined): void {
    if (!isObject(value)) return;
    const type = nodeTypeOf(value);
    if (type !== undefined) this.visit(type, value[type] as AstObject, rule?.access);
    else if (rule?.type !== undefined) this.visit(rule.type, value, rule.access);
    else this.fields('', value, undefined);
  }

  private rangeVar(body: AstObject, access: TableAccess | null | undefined): void {
    if (access === null) return;
    const t = tableName(body);
    if (t === null) return;
    if (access === undefined) {
      // A plain read of an unqualified name that an enclosing WITH defines is the CTE, not a table.
      // Targets of writes and DDL never resolve to CTEs in PostgreSQL, so they are not checked.
      if (t.schema === null && str(body.catalogname) === undefined && this.isCte(t.name)) return;
      access = 'read';
    }
    this.addTable(t.schema, t.name, access);
  }

  private columnRef(body: AstObject): void {
    const fields = asArray(body.fields);
    const last = fields[fields.length - 1];
    const lastString = unwrap(last, 'String');
    let name: string;
    if (lastString !== undefined) name = str(lastString.sval) ?? '';
    else if (unwrap(last, 'A_Star') !== undefined) name = '*';
    else return;
    // `t.c`, `s.t.c`, `t.*`: the table (or alias) is the field before the column.
    const table = fields.length >= 2 ? unwrap(fields[fields.length - 2], 'String') : undefined;
    this.addColumn(table !== undefined ? (str(table.sval) ?? '') : null, name);
  }

  /** SELECT/INSERT/UPDATE/DELETE/MERGE anywhere: its WITH scope and, unless a SELECT, its operation. */
  private dml(type: string, body: AstObject): void {
    const op = DML_OPERATION[type];
    if (op !== undefined) {
      const relation = isObject(body.relation) ? tableName(body.relation) : null;
      // MERGE always joins on its ON condition; INSERT has no WHERE of its own.
      const hasWhere = op === 'merge' ? true : op === 'insert' ? false : body.whereClause !== undefined;
      this.operations.push({ kind: op, table: relation, has_where: hasWhere });
    }
    const scoped = isObject(body.withClause) && this.enterWith(body.withClause);
    this.fields(type, body, 'withClause');
    if (scoped) this.cteScopes.pop();
  }

  /** Walks the CTE bodies and puts their names in scope (incrementally unless RECURSIVE). */
  private enterWith(withClause: AstObject): boolean {
    const names: string[] = [];
    this.cteScopes.push(names);
    const ctes = asArray(withClause.ctes);
    const recursive = withClause.recursive === true;
    if (recursive) {
      for (const cte of ctes) names.push(str(unwrap(cte, 'CommonTableExpr')?.ctename) ?? '');
    }
    for (const cte of ctes) {
      const body = unwrap(cte, 'CommonTableExpr');
      if (body === undefined) continue;
      this.node(body.ctequery);
      if (!recursive) names.push(str(body.ctename) ?? '');
    }
    return true;
  }

  private isCte(name: string): boolean {
    for (let i = this.cteScopes.length - 1; i >= 0; i--) {
      if (this.cteScopes[i]!.includes(name)) return true;
    }
    return false;
  }
}
