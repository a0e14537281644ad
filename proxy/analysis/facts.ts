// The statement facts the analyzer derives from SQL with the real PostgreSQL parser.
// They are the `statement` part of the `auditgate/statement` policy input (docs/policies.md),
// so every field name here is part of the policy contract: change it there too.

/** What a statement is, as a policy sees it. */
export type StatementKind =
  | 'select' // a read: SELECT, VALUES, TABLE, SHOW, a read-only CTE
  | 'insert'
  | 'update'
  | 'delete'
  | 'merge'
  | 'copy_from' // COPY ... FROM (writes a table)
  | 'copy_to' // COPY ... TO (reads a table or query)
  | 'ddl' // CREATE/ALTER/DROP/TRUNCATE/COMMENT/... on schema objects
  | 'privilege' // GRANT, REVOKE, CREATE/ALTER/DROP ROLE|USER|GROUP, ALTER DEFAULT PRIVILEGES, REASSIGN OWNED
  | 'set_role' // SET ROLE, SET SESSION AUTHORIZATION, RESET ROLE, RESET SESSION AUTHORIZATION (and RESET ALL)
  | 'set' // other SET / RESET / SET CONFIG-like session settings
  | 'transaction' // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ...
  | 'procedural' // DO blocks, CREATE FUNCTION/PROCEDURE bodies: opaque code, never "select"
  | 'call' // CALL procedure(...)
  | 'prepare' // PREPARE name AS ...: nothing runs yet; facts of the inner statement are attached
  | 'execute' // EXECUTE of a prepared statement the analyzer does not know (known ones inherit the prepared facts)
  | 'deallocate'
  | 'explain' // EXPLAIN without ANALYZE: plans only (EXPLAIN ANALYZE takes the kind of what it runs)
  | 'utility' // everything else: LISTEN, NOTIFY, VACUUM, ANALYZE, CHECKPOINT, DISCARD, LOCK, ALTER SYSTEM, LOAD, CREATE EXTENSION, ...
  | 'empty' // an empty query string or only comments
  | 'parse_error'; // the parser refused it: the policy denies this

export type TableAccess = 'read' | 'write' | 'ddl';

export interface TableRef {
  /** null when the SQL did not qualify the name (search_path decides; never guessed). */
  schema: string | null;
  name: string;
  access: TableAccess;
}

export interface FunctionRef {
  /** null when unqualified. */
  schema: string | null;
  name: string;
}

export interface ColumnRef {
  /** Table name or alias as written, null when the column was unqualified. */
  table: string | null;
  name: string;
}

/** One data-changing (or schema-changing) effect the statement has when it runs. */
export interface Operation {
  kind: 'insert' | 'update' | 'delete' | 'merge' | 'copy_from' | 'truncate' | 'ddl';
  /** The target table; null for DDL that targets no table (e.g. CREATE SCHEMA). */
  table: { schema: string | null; name: string } | null;
  /** Only meaningful for update/delete: whether a WHERE clause (or WHERE CURRENT OF) limits it. */
  has_where: boolean;
  /** Set for ddl: the command, e.g. "CREATE TABLE", "DROP TABLE", "ALTER TABLE". */
  command?: string;
}

export interface CopyFacts {
  direction: 'from' | 'to';
  /** COPY ... PROGRAM 'cmd' runs a shell command on the server. */
  program: boolean;
  /** Server-side file name for COPY ... FROM/TO 'file', or the PROGRAM command. */
  target: string | null;
  /** STDIN/STDOUT: data travels over the client connection. */
  stdio: boolean;
  format: string | null;
  /** COPY t [(cols)]: the table as written; null for COPY (query). */
  relation: { schema: string | null; name: string } | null;
  /** COPY t (a, b): the column list; null without one. */
  columns: string[] | null;
  /** Text/CSV options as written (null when not given): masking needs them to find fields. */
  delimiter: string | null;
  null_string: string | null;
  quote: string | null;
  escape: string | null;
  header: boolean | null;
}

export interface SetFacts {
  /** The setting name, lower-case: "role", "session_authorization", "search_path", "all", ... */
  name: string;
  /** The value as written, when a single literal; null for RESET / DEFAULT / lists. */
  value: string | null;
  reset: boolean;
  local: boolean;
}

export interface StatementFacts {
  /** The text of this one statement (a slice of the submitted string). */
  sql: string;
  /** libpg-query's fingerprint: equal for statements that differ only in literals. */
  fingerprint: string;
  kind: StatementKind;
  /** The command tag PostgreSQL reports for it, e.g. "SELECT", "DELETE", "CREATE TABLE", "GRANT". */
  command_tag: string;
  /** Every table/view/sequence named anywhere in the statement (CTE names excluded), deduplicated. */
  tables: TableRef[];
  /** Column references where known (ColumnRef nodes); `*` is reported as name "*". */
  columns: ColumnRef[];
  /** Every function called anywhere in the tree: target lists, WHERE, defaults, subqueries, lateral joins. */
  functions: FunctionRef[];
  /** Data- or schema-changing effects, including those inside data-modifying CTEs and EXPLAIN ANALYZE. */
  operations: Operation[];
  /** True when nothing in it changes data, schema, privileges or session identity. */
  read_only: boolean;
  /** Top-level WHERE present (for UPDATE/DELETE/SELECT). */
  has_where: boolean;
  /** Top-level LIMIT/FETCH present. */
  has_limit: boolean;
  /** Filled by the gateway from session state; the analyzer alone reports false. */
  in_transaction: boolean;
  protocol: 'simple' | 'extended';
  /** Number of $n parameters referenced. */
  param_count: number;
  /** Bound parameter values (extended protocol) as text, null for SQL NULL or binary; absent when not bound. */
  params?: (string | null)[];
  copy: CopyFacts | null;
  set: SetFacts | null;
  explain: { analyze: boolean } | null;
  /** PREPARE: its name. EXECUTE: the name executed (facts are inherited from the PREPARE when known). */
  prepared: { name: string; known: boolean } | null;
  /** DO / CREATE FUNCTION / CREATE PROCEDURE: language and body, opaque to the analyzer. */
  procedural: { language: string | null; body: string | null } | null;
  /** Utility command name for kind "utility" etc., e.g. "ALTER SYSTEM", "CREATE EXTENSION", "LOAD". */
  utility: string | null;
  /** Set when kind is "parse_error". */
  error: { message: string; position: number | null } | null;
}

/** Prepared statements known in a session: name -> facts of the prepared statement. */
export type PreparedRegistry = Map<string, StatementFacts>;

export interface AnalyzeOptions {
  protocol?: 'simple' | 'extended';
  /** Session-level PREPARE registry: read for EXECUTE, updated by PREPARE/DEALLOCATE. */
  prepared?: PreparedRegistry;
  /** Bound parameters (extended protocol). */
  params?: (string | null)[];
  in_transaction?: boolean;
}

/** A fact set with every field present and empty: the base for explicit policy test inputs. */
export function emptyFacts(sql = ''): StatementFacts {
  return {
    sql,
    fingerprint: '',
    kind: 'empty',
    command_tag: '',
    tables: [],
    columns: [],
    functions: [],
    operations: [],
    read_only: true,
    has_where: false,
    has_limit: false,
    in_transaction: false,
    protocol: 'simple',
    param_count: 0,
    copy: null,
    set: null,
    explain: null,
    prepared: null,
    procedural: null,
    utility: null,
    error: null,
  };
}
