// Classifies one parsed statement: kind, command tag and the kind-specific facts (COPY, SET,
// EXPLAIN, PREPARE/EXECUTE, procedural code), with tables/columns/functions/operations from the
// walk. The text-level facts (sql, fingerprint) and the session options are added by analyze.ts.
//
// The rules, in one place:
// - kind: from the statement node (DML_KIND, PRIVILEGE, UTILITY, DDL below; unknown nodes are
//   'utility', never 'select'). A SELECT or COPY ... TO whose tree modifies data takes the kind of
//   its first modifying operation (promote). EXPLAIN ANALYZE, DECLARE CURSOR and EXECUTE of a
//   known statement take the kind of what they run.
// - read_only: true iff running the statement changes no data, schema, privileges or session
//   identity, judged from the statement's structure: kinds select, copy_to (STDOUT only),
//   explain, empty, prepare, deallocate, transaction (not two-phase, not READ WRITE), set (not
//   role, not a read-only or replication setting) and the utilities LISTEN, UNLISTEN, FETCH,
//   MOVE, CLOSE, SET CONSTRAINTS; and never with an operation. Functions called are not judged
//   (`SELECT pg_terminate_backend(1)` is read_only): that is the policy's job, from `functions`.
// - tables: one entry per (schema, name, access); a table read and written appears twice.
// - utility: the command tag for every statement that is not plain DML; null for DML.
import { type AstObject, asArray, constText, defElems, defElemTrue, isObject, nodeTypeOf, qualifiedName, str, stringList, unwrap } from './ast.js';
import { commandTag } from './command-tag.js';
import type { Operation, SetFacts, StatementFacts, StatementKind, TableRef } from './facts.js';
import { Collector, tableName } from './walk.js';

/** A statement's facts before the text and session fields are filled in. */
export type Draft = Omit<StatementFacts, 'sql' | 'fingerprint' | 'protocol' | 'in_transaction' | 'params' | 'error'>;

/** The prepared-statement registry as the statements of one analyze() call see it, in order. */
export interface DescribeContext {
  lookup(name: string): StatementFacts | undefined;
  /** PREPARE name AS inner: register the inner statement's facts. */
  prepare(name: string, inner: Draft): void;
  /** DEALLOCATE name; null: DEALLOCATE ALL. */
  deallocate(name: string | null): void;
}

const DML_KIND: Record<string, StatementKind> = {
  SelectStmt: 'select',
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
};

const PRIVILEGE = new Set([
  'GrantStmt',
  'GrantRoleStmt',
  'CreateRoleStmt',
  'AlterRoleStmt',
  'AlterRoleSetStmt',
  'DropRoleStmt',
  'AlterDefaultPrivilegesStmt',
  'ReassignOwnedStmt',
  'DropOwnedStmt',
]);

const UTILITY = new Set([
  'AlterSystemStmt',
  'LoadStmt',
  'VacuumStmt',
  'ClusterStmt',
  'ReindexStmt',
  'CheckPointStmt',
  'ListenStmt',
  'UnlistenStmt',
  'NotifyStmt',
  'LockStmt',
  'DiscardStmt',
  'FetchStmt',
  'ClosePortalStmt',
  'ConstraintsSetStmt',
]);

/**
 * Utilities that change nothing when they run: they subscribe to notifications, read from a
 * cursor already declared (DECLARE cannot hold a data-modifying statement), or defer constraint
 * checks. Everything else of kind "utility" is not read-only (VACUUM, ANALYZE, LOCK, NOTIFY, ...).
 */
const READ_ONLY_UTILITY = new Set(['ListenStmt', 'UnlistenStmt', 'FetchStmt', 'ClosePortalStmt', 'ConstraintsSetStmt']);

const DDL = new Set([
  'CreateStmt',
  'CreateForeignTableStmt',
  'AlterTableStmt',
  'CreateTableAsStmt',
  'ViewStmt',
  'IndexStmt',
  'RefreshMatViewStmt',
  'CreateSchemaStmt',
  'CreateSeqStmt',
  'AlterSeqStmt',
  'DefineStmt',
  'CompositeTypeStmt',
  'CreateEnumStmt',
  'CreateRangeStmt',
  'AlterEnumStmt',
  'AlterTypeStmt',
  'CreateDomainStmt',
  'AlterDomainStmt',
  'CreateTrigStmt',
  'CreateEventTrigStmt',
  'AlterEventTrigStmt',
  'RuleStmt',
  'RenameStmt',
  'AlterObjectSchemaStmt',
  'AlterOwnerStmt',
  'AlterObjectDependsStmt',
  'AlterFunctionStmt',
  'CreatePolicyStmt',
  'AlterPolicyStmt',
  'CreateStatsStmt',
  'AlterStatsStmt',
  'AlterCollationStmt',
  'CreateCastStmt',
  'CreateConversionStmt',
  'CreateTransformStmt',
  'CreateOpClassStmt',
  'CreateOpFamilyStmt',
  'AlterOpFamilyStmt',
  'AlterOperatorStmt',
  'CreateAmStmt',
  'CreatePLangStmt',
  'CreateFdwStmt',
  'AlterFdwStmt',
  'CreateForeignServerStmt',
  'AlterForeignServerStmt',
  'CreateUserMappingStmt',
  'AlterUserMappingStmt',
  'DropUserMappingStmt',
  'ImportForeignSchemaStmt',
  'CreateTableSpaceStmt',
  'DropTableSpaceStmt',
  'AlterTableSpaceOptionsStmt',
  'AlterTableMoveAllStmt',
  'CreatedbStmt',
  'AlterDatabaseStmt',
  'AlterDatabaseRefreshCollStmt',
  'AlterDatabaseSetStmt',
  'DropdbStmt',
  'AlterTSDictionaryStmt',
  'AlterTSConfigurationStmt',
  'CreatePublicationStmt',
  'AlterPublicationStmt',
  'CreateSubscriptionStmt',
  'AlterSubscriptionStmt',
  'DropSubscriptionStmt',
  'AlterExtensionContentsStmt',
]);

/** Object types whose DROP/COMMENT name list names a relation. */
const RELATION_OBJECTS = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_INDEX', 'OBJECT_SEQUENCE', 'OBJECT_FOREIGN_TABLE']);
/** Object types whose name list is a relation followed by one more name (column, trigger, ...). */
const RELATION_MEMBER_OBJECTS = new Set(['OBJECT_COLUMN', 'OBJECT_TABCONSTRAINT', 'OBJECT_TRIGGER', 'OBJECT_RULE', 'OBJECT_POLICY']);

/** Settings that change session identity: SET ROLE, SET SESSION AUTHORIZATION, RESET ALL. */
const ROLE_SETTINGS = new Set(['role', 'session_authorization', 'all']);
/** Settings whose change can lift read-only enforcement or skip triggers: never read-only. */
const GUARD_SETTINGS = new Set(['default_transaction_read_only', 'transaction_read_only', 'session_replication_role']);
/** Two-phase commit acts on prepared transactions, possibly another session's. */
const TWO_PHASE = new Set(['TRANS_STMT_PREPARE', 'TRANS_STMT_COMMIT_PREPARED', 'TRANS_STMT_ROLLBACK_PREPARED']);

function blank(kind: StatementKind, tag: string, utility: string | null = tag): Draft {
  return {
    kind,
    command_tag: tag,
    tables: [],
    columns: [],
    functions: [],
    operations: [],
    read_only: false,
    has_where: false,
    has_limit: false,
    param_count: 0,
    copy: null,
    set: null,
    explain: null,
    prepared: null,
    procedural: null,
    utility,
  };
}

function collected(draft: Draft, c: Collector): Draft {
  draft.tables = c.tables;
  draft.columns = c.columns;
  draft.functions = c.functions;
  draft.operations = c.operations;
  draft.param_count = c.maxParam;
  return draft;
}

/** Walks the whole statement and reports it with the given kind. */
function walked(type: string, body: AstObject, kind: StatementKind): Draft {
  const c = new Collector();
  c.visit(type, body, undefined);
  return collected(blank(kind, commandTag(type, body)), c);
}

/** One ddl operation per relation the statement defines, or one without a table. */
function ddlOperations(tables: TableRef[], command: string): Operation[] {
  const ops: Operation[] = [];
  for (const t of tables) {
    if (t.access === 'ddl') ops.push({ kind: 'ddl', table: { schema: t.schema, name: t.name }, has_where: false, command });
  }
  if (ops.length === 0) ops.push({ kind: 'ddl', table: null, has_where: false, command });
  return ops;
}

/**
 * A statement whose own kind is a read (a SELECT, or COPY (query) TO) but whose tree modifies
 * data (a data-modifying CTE, `COPY (DELETE ... RETURNING *) TO STDOUT`) takes the kind of the
 * first modifying operation, in text order, so no policy mistakes it for a read. has_where then
 * describes that operation, and has_limit is false: an outer LIMIT does not bound a CTE's DELETE,
 * which PostgreSQL always runs to completion.
 */
function promote(d: Draft): void {
  const first = d.operations[0];
  if ((d.kind !== 'select' && d.kind !== 'copy_to') || first === undefined) return;
  d.kind = first.kind === 'truncate' ? 'ddl' : first.kind;
  d.has_where = first.has_where;
  d.has_limit = false;
}

/** `LIMIT n` / `FETCH FIRST n`; `LIMIT ALL` and `LIMIT NULL` bound nothing. */
function hasLimit(select: AstObject): boolean {
  const count = select.limitCount;
  if (!isObject(count)) return false;
  const c = unwrap(count, 'A_Const');
  return !(c !== undefined && c.isnull === true);
}

function turnsOffReadOnly(options: unknown): boolean {
  return defElems(options).some((o) => o.name === 'transaction_read_only' && !defElemTrue(o.arg));
}

function dml(type: string, body: AstObject): Draft {
  const c = new Collector();
  c.visit(type, body, undefined);
  const d = collected(blank(DML_KIND[type]!, commandTag(type, body), null), c);
  d.has_where = type === 'MergeStmt' || (type !== 'InsertStmt' && body.whereClause !== undefined);
  d.has_limit = type === 'SelectStmt' && hasLimit(body);
  d.read_only = type === 'SelectStmt';
  if (type === 'SelectStmt' && isObject(body.intoClause)) {
    // SELECT ... INTO new_table creates a table: DDL, like CREATE TABLE AS.
    const into = body.intoClause;
    d.kind = 'ddl';
    d.command_tag = d.utility = 'SELECT INTO';
    d.read_only = false;
    d.operations.unshift({ kind: 'ddl', table: isObject(into.rel) ? tableName(into.rel) : null, has_where: false, command: 'SELECT INTO' });
  }
  promote(d);
  return d;
}

function copy(body: AstObject): Draft {
  const from = body.is_from === true;
  const relation = isObject(body.relation) ? body.relation : undefined;
  const c = new Collector();
  if (relation !== undefined) c.visit('RangeVar', relation, from ? 'write' : 'read');
  c.node(body.query);
  c.node(body.whereClause);
  const table = relation !== undefined ? tableName(relation) : null;
  if (!from && table !== null) {
    // COPY t [(cols)] TO reads those columns (all of them without a list).
    const cols = stringList(body.attlist);
    for (const col of cols.length > 0 ? cols : ['*']) c.addColumn(table.name, col);
  }
  const d = collected(blank(from ? 'copy_from' : 'copy_to', 'COPY'), c);
  if (from) d.operations.unshift({ kind: 'copy_from', table, has_where: false });
  const target = str(body.filename) ?? null;
  const options = defElems(body.options);
  const option = (name: string) => {
    const o = options.find((x) => x.name === name);
    return o === undefined ? null : (constText(o.arg) ?? null);
  };
  const header = options.find((o) => o.name === 'header');
  const attlist = stringList(body.attlist);
  d.copy = {
    direction: from ? 'from' : 'to',
    program: body.is_program === true,
    target,
    stdio: target === null,
    format: option('format')?.toLowerCase() ?? null,
    relation: table,
    columns: attlist.length > 0 ? attlist : null,
    delimiter: option('delimiter'),
    null_string: option('null'),
    quote: option('quote'),
    escape: option('escape'),
    // HEADER alone, true/on/1, or MATCH (COPY FROM only) all mean a header line.
    header: header === undefined ? null : defElemTrue(header.arg),
  };
  // Only COPY ... TO STDOUT is a pure read: TO 'file' and TO PROGRAM act on the server.
  d.read_only = !from && target === null;
  promote(d);
  return d;
}

function explain(body: AstObject, ctx: DescribeContext): Draft {
  // EXPLAIN ANALYZE runs the statement. Any ANALYZE option not explicitly false counts, even if a
  // later one turns it off: the safe reading.
  const analyze = defElems(body.options).some((o) => o.name === 'analyze' && defElemTrue(o.arg));
  const inner = describe(body.query, ctx);
  if (analyze) return { ...inner, command_tag: 'EXPLAIN', utility: 'EXPLAIN', explain: { analyze: true } };
  // Planning only: nothing is written, but functions stay visible (constant folding at plan time
  // may evaluate them).
  const reads = new Collector();
  for (const t of inner.tables) reads.addTable(t.schema, t.name, 'read');
  return {
    ...inner,
    kind: 'explain',
    command_tag: 'EXPLAIN',
    utility: 'EXPLAIN',
    tables: reads.tables,
    operations: [],
    read_only: true,
    explain: { analyze: false },
  };
}

function prepare(body: AstObject, ctx: DescribeContext): Draft {
  const name = str(body.name) ?? '';
  const inner = describe(body.query, ctx);
  ctx.prepare(name, copyDraft(inner));
  // Nothing runs yet: the inner statement's tables (with their real access) are reported, its
  // operations are not. EXECUTE carries them.
  return {
    ...inner,
    kind: 'prepare',
    command_tag: 'PREPARE',
    utility: 'PREPARE',
    operations: [],
    read_only: true,
    prepared: { name, known: true },
  };
}

function execute(body: AstObject, ctx: DescribeContext): Draft {
  const name = str(body.name) ?? '';
  const known = ctx.lookup(name);
  const c = new Collector();
  if (known !== undefined) c.absorb(known);
  // Parameters only matter for the functions (and $n) they contain.
  c.node(body.params);
  if (known === undefined) {
    const d = collected(blank('execute', 'EXECUTE'), c);
    d.prepared = { name, known: false };
    return d;
  }
  return {
    ...copyDraft(known),
    tables: c.tables,
    columns: c.columns,
    functions: c.functions,
    param_count: c.maxParam,
    prepared: { name, known: true },
  };
}

/** A copy sharing no objects with the original: registry entries must not change under callers. */
function copyDraft(d: Draft): Draft {
  return {
    kind: d.kind,
    command_tag: d.command_tag,
    tables: d.tables.map((t) => ({ ...t })),
    columns: d.columns.map((c) => ({ ...c })),
    functions: d.functions.map((f) => ({ ...f })),
    operations: d.operations.map((o) => ({ ...o, table: o.table && { ...o.table } })),
    read_only: d.read_only,
    has_where: d.has_where,
    has_limit: d.has_limit,
    param_count: d.param_count,
    copy: d.copy && { ...d.copy },
    set: d.set && { ...d.set },
    explain: d.explain && { ...d.explain },
    prepared: d.prepared && { ...d.prepared },
    procedural: d.procedural && { ...d.procedural },
    utility: d.utility,
  };
}

function deallocate(body: AstObject, ctx: DescribeContext): Draft {
  const name = body.isall === true ? null : (str(body.name) ?? null);
  const d = blank('deallocate', commandTag('DeallocateStmt', body));
  d.prepared = name === null ? null : { name, known: ctx.lookup(name) !== undefined };
  d.read_only = true;
  ctx.deallocate(name);
  return d;
}

function doBlock(body: AstObject): Draft {
  const options = defElems(body.args);
  const d = blank('procedural', 'DO');
  d.procedural = {
    // DO without LANGUAGE runs plpgsql.
    language: constText(options.find((o) => o.name === 'language')?.arg) ?? 'plpgsql',
    body: constText(options.find((o) => o.name === 'as')?.arg),
  };
  return d;
}

function createFunction(body: AstObject): Draft {
  const tag = commandTag('CreateFunctionStmt', body);
  const options = defElems(body.options);
  const as = options.find((o) => o.name === 'as');
  // AS 'body', or AS 'obj_file', 'link_symbol' for C functions (joined by a newline). A
  // BEGIN ATOMIC / RETURN body (sql_body) is parsed SQL, left opaque: body null, the text is in sql.
  const parts = as !== undefined ? stringList(unwrap(as.arg, 'List')?.items) : [];
  const d = blank('procedural', tag);
  d.procedural = {
    language: constText(options.find((o) => o.name === 'language')?.arg) ?? (body.sql_body !== undefined ? 'sql' : null),
    body: parts.length > 0 ? parts.join('\n') : as !== undefined ? constText(as.arg) : null,
  };
  d.operations = [{ kind: 'ddl', table: null, has_where: false, command: tag }];
  return d;
}

function call(body: AstObject): Draft {
  const c = new Collector();
  if (isObject(body.funccall)) c.visit('FuncCall', body.funccall, undefined);
  return collected(blank('call', 'CALL'), c);
}

function setFacts(body: AstObject): SetFacts {
  const kind = str(body.kind);
  const all = kind === 'VAR_RESET_ALL';
  const args = asArray(body.args);
  return {
    name: all ? 'all' : (str(body.name) ?? '').toLowerCase(),
    // One literal only; lists (search_path), DEFAULT, FROM CURRENT and SET TRANSACTION have none.
    value: kind === 'VAR_SET_VALUE' && args.length === 1 ? constText(args[0]) : null,
    // SET x TO DEFAULT is RESET x.
    reset: all || kind === 'VAR_RESET' || kind === 'VAR_SET_DEFAULT',
    local: body.is_local === true,
  };
}

function setStatement(body: AstObject): Draft {
  const set = setFacts(body);
  const roleChange = ROLE_SETTINGS.has(set.name);
  const d = blank(roleChange ? 'set_role' : 'set', commandTag('VariableSetStmt', body));
  d.set = set;
  // SET TRANSACTION READ WRITE, SET default_transaction_read_only ... can lift read-only mode.
  d.read_only = !roleChange && !GUARD_SETTINGS.has(set.name) && !turnsOffReadOnly(body.args);
  return d;
}

function transaction(body: AstObject): Draft {
  const d = blank('transaction', commandTag('TransactionStmt', body));
  d.read_only = !TWO_PHASE.has(str(body.kind) ?? '') && !turnsOffReadOnly(body.options);
  return d;
}

function drop(body: AstObject): Draft {
  const tag = commandTag('DropStmt', body);
  const c = new Collector();
  if (RELATION_OBJECTS.has(str(body.removeType) ?? '')) {
    for (const object of asArray(body.objects)) {
      const rel = qualifiedName(stringList(unwrap(object, 'List')?.items));
      if (rel !== null) c.addTable(rel.schema, rel.name, 'ddl');
    }
  }
  const d = collected(blank('ddl', tag), c);
  d.operations = ddlOperations(c.tables, tag);
  return d;
}

function truncate(body: AstObject): Draft {
  const walk = new Collector();
  walk.visit('TruncateStmt', body, undefined);
  // TRUNCATE is DDL in PostgreSQL's terms but deletes every row: its tables are reported with
  // access 'ddl' and 'write', so a policy guarding a table's data sees it either way.
  const c = new Collector();
  const operations: Operation[] = [];
  for (const t of walk.tables) {
    c.addTable(t.schema, t.name, 'ddl');
    c.addTable(t.schema, t.name, 'write');
    operations.push({ kind: 'truncate', table: { schema: t.schema, name: t.name }, has_where: false });
  }
  const d = collected(blank('ddl', 'TRUNCATE TABLE'), c);
  d.operations = operations;
  return d;
}

/** COMMENT ON / SECURITY LABEL ON: the object is a name list, a relation's for relation objects. */
function comment(type: string, body: AstObject): Draft {
  const tag = commandTag(type, body);
  const objtype = str(body.objtype) ?? '';
  const parts = stringList(unwrap(body.object, 'List')?.items);
  const c = new Collector();
  const rel = RELATION_OBJECTS.has(objtype)
    ? qualifiedName(parts)
    : RELATION_MEMBER_OBJECTS.has(objtype)
      ? qualifiedName(parts.slice(0, -1))
      : null;
  if (rel !== null) c.addTable(rel.schema, rel.name, 'ddl');
  const d = collected(blank('ddl', tag), c);
  d.operations = ddlOperations(c.tables, tag);
  return d;
}

function ddl(type: string, body: AstObject): Draft {
  const tag = commandTag(type, body);
  const c = new Collector();
  c.visit(type, body, undefined);
  const d = collected(blank('ddl', tag), c);
  // A rule's actions run when the rule fires, not now: their tables are reported, not operations.
  d.operations = type === 'RuleStmt' ? ddlOperations(c.tables, tag) : [...ddlOperations(c.tables, tag), ...c.operations];
  return d;
}

function describeNode(type: string, body: AstObject, ctx: DescribeContext): Draft {
  switch (type) {
    case 'SelectStmt':
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      return dml(type, body);
    case 'CopyStmt':
      return copy(body);
    case 'ExplainStmt':
      return explain(body, ctx);
    case 'PrepareStmt':
      return prepare(body, ctx);
    case 'ExecuteStmt':
      return execute(body, ctx);
    case 'DeallocateStmt':
      return deallocate(body, ctx);
    case 'DeclareCursorStmt':
      // The cursor's query is what runs; FETCH only reads from it.
      return { ...describe(body.query, ctx), command_tag: 'DECLARE CURSOR', utility: 'DECLARE CURSOR' };
    case 'DoStmt':
      return doBlock(body);
    case 'CreateFunctionStmt':
      return createFunction(body);
    case 'CallStmt':
      return call(body);
    case 'VariableSetStmt':
      return setStatement(body);
    case 'VariableShowStmt': {
      const d = blank('select', 'SHOW');
      d.read_only = true;
      return d;
    }
    case 'TransactionStmt':
      return transaction(body);
    case 'CreateExtensionStmt':
    case 'AlterExtensionStmt': {
      // Extension scripts run with the installer's rights: kind 'utility' (policies match on
      // `utility`), plus a ddl operation since they create or change schema objects.
      const d = walked(type, body, 'utility');
      d.operations = [{ kind: 'ddl', table: null, has_where: false, command: d.command_tag }];
      return d;
    }
    case 'AlterSystemStmt': {
      const d = blank('utility', 'ALTER SYSTEM');
      if (isObject(body.setstmt)) d.set = { ...setFacts(body.setstmt), local: false };
      return d;
    }
    case 'DiscardStmt': {
      // DISCARD ALL includes RESET ALL and SET SESSION AUTHORIZATION DEFAULT.
      const d = blank('utility', commandTag(type, body));
      if (body.target === 'DISCARD_ALL') d.set = { name: 'all', value: null, reset: true, local: false };
      return d;
    }
    case 'DropStmt':
      return drop(body);
    case 'TruncateStmt':
      return truncate(body);
    case 'CommentStmt':
    case 'SecLabelStmt':
      return comment(type, body);
  }
  if (PRIVILEGE.has(type)) return walked(type, body, 'privilege');
  if (UTILITY.has(type)) {
    const d = walked(type, body, 'utility');
    d.read_only = READ_ONLY_UTILITY.has(type);
    return d;
  }
  if (DDL.has(type)) return ddl(type, body);
  // Unknown to this analyzer: a utility with a readable tag, never a read.
  return walked(type, body, 'utility');
}

/** Describes one statement node (a wrapped Node, e.g. RawStmt.stmt or ExplainStmt.query). */
export function describe(stmt: unknown, ctx: DescribeContext): Draft {
  const type = isObject(stmt) ? nodeTypeOf(stmt) : undefined;
  if (type === undefined) throw new Error('the parse tree holds no statement node');
  const body = (stmt as AstObject)[type];
  const d = describeNode(type, isObject(body) ? body : {}, ctx);
  // Whatever the kind, a statement with data or schema changes is not read-only.
  if (d.operations.length > 0) d.read_only = false;
  return d;
}
