// The command tag PostgreSQL reports for a raw statement: a port of CreateCommandTag
// (src/backend/tcop/utility.c, PostgreSQL 18) for raw parse trees. Tags are the strings of
// cmdtaglist.h ("CREATE TABLE", "DROP INDEX", "GRANT ROLE", ...). A node type unknown here gets a
// readable name derived from it ("FooBarStmt" -> "FOO BAR").
import { type AstObject, str } from './ast.js';

/** Tags that depend on nothing but the node type. */
const FIXED: Record<string, string> = {
  InsertStmt: 'INSERT',
  DeleteStmt: 'DELETE',
  UpdateStmt: 'UPDATE',
  MergeStmt: 'MERGE',
  SelectStmt: 'SELECT',
  PLAssignStmt: 'SELECT',
  DeclareCursorStmt: 'DECLARE CURSOR',
  CreateDomainStmt: 'CREATE DOMAIN',
  CreateSchemaStmt: 'CREATE SCHEMA',
  CreateStmt: 'CREATE TABLE',
  CreateTableSpaceStmt: 'CREATE TABLESPACE',
  DropTableSpaceStmt: 'DROP TABLESPACE',
  AlterTableSpaceOptionsStmt: 'ALTER TABLESPACE',
  CreateExtensionStmt: 'CREATE EXTENSION',
  AlterExtensionStmt: 'ALTER EXTENSION',
  AlterExtensionContentsStmt: 'ALTER EXTENSION',
  CreateFdwStmt: 'CREATE FOREIGN DATA WRAPPER',
  AlterFdwStmt: 'ALTER FOREIGN DATA WRAPPER',
  CreateForeignServerStmt: 'CREATE SERVER',
  AlterForeignServerStmt: 'ALTER SERVER',
  CreateUserMappingStmt: 'CREATE USER MAPPING',
  AlterUserMappingStmt: 'ALTER USER MAPPING',
  DropUserMappingStmt: 'DROP USER MAPPING',
  CreateForeignTableStmt: 'CREATE FOREIGN TABLE',
  ImportForeignSchemaStmt: 'IMPORT FOREIGN SCHEMA',
  TruncateStmt: 'TRUNCATE TABLE',
  CommentStmt: 'COMMENT',
  SecLabelStmt: 'SECURITY LABEL',
  CopyStmt: 'COPY',
  AlterDomainStmt: 'ALTER DOMAIN',
  AlterDefaultPrivilegesStmt: 'ALTER DEFAULT PRIVILEGES',
  CompositeTypeStmt: 'CREATE TYPE',
  CreateEnumStmt: 'CREATE TYPE',
  CreateRangeStmt: 'CREATE TYPE',
  AlterEnumStmt: 'ALTER TYPE',
  ViewStmt: 'CREATE VIEW',
  IndexStmt: 'CREATE INDEX',
  RuleStmt: 'CREATE RULE',
  CreateSeqStmt: 'CREATE SEQUENCE',
  AlterSeqStmt: 'ALTER SEQUENCE',
  DoStmt: 'DO',
  CreatedbStmt: 'CREATE DATABASE',
  AlterDatabaseStmt: 'ALTER DATABASE',
  AlterDatabaseRefreshCollStmt: 'ALTER DATABASE',
  AlterDatabaseSetStmt: 'ALTER DATABASE',
  DropdbStmt: 'DROP DATABASE',
  NotifyStmt: 'NOTIFY',
  ListenStmt: 'LISTEN',
  UnlistenStmt: 'UNLISTEN',
  LoadStmt: 'LOAD',
  CallStmt: 'CALL',
  ClusterStmt: 'CLUSTER',
  ExplainStmt: 'EXPLAIN',
  RefreshMatViewStmt: 'REFRESH MATERIALIZED VIEW',
  AlterSystemStmt: 'ALTER SYSTEM',
  VariableShowStmt: 'SHOW',
  CreateTransformStmt: 'CREATE TRANSFORM',
  CreateTrigStmt: 'CREATE TRIGGER',
  CreateEventTrigStmt: 'CREATE EVENT TRIGGER',
  AlterEventTrigStmt: 'ALTER EVENT TRIGGER',
  CreatePLangStmt: 'CREATE LANGUAGE',
  CreateRoleStmt: 'CREATE ROLE',
  AlterRoleStmt: 'ALTER ROLE',
  AlterRoleSetStmt: 'ALTER ROLE',
  DropRoleStmt: 'DROP ROLE',
  DropOwnedStmt: 'DROP OWNED',
  ReassignOwnedStmt: 'REASSIGN OWNED',
  LockStmt: 'LOCK TABLE',
  ConstraintsSetStmt: 'SET CONSTRAINTS',
  CheckPointStmt: 'CHECKPOINT',
  ReindexStmt: 'REINDEX',
  CreateConversionStmt: 'CREATE CONVERSION',
  CreateCastStmt: 'CREATE CAST',
  CreateOpClassStmt: 'CREATE OPERATOR CLASS',
  CreateOpFamilyStmt: 'CREATE OPERATOR FAMILY',
  AlterOpFamilyStmt: 'ALTER OPERATOR FAMILY',
  AlterOperatorStmt: 'ALTER OPERATOR',
  AlterTypeStmt: 'ALTER TYPE',
  AlterTSDictionaryStmt: 'ALTER TEXT SEARCH DICTIONARY',
  AlterTSConfigurationStmt: 'ALTER TEXT SEARCH CONFIGURATION',
  CreatePolicyStmt: 'CREATE POLICY',
  AlterPolicyStmt: 'ALTER POLICY',
  CreateAmStmt: 'CREATE ACCESS METHOD',
  CreatePublicationStmt: 'CREATE PUBLICATION',
  AlterPublicationStmt: 'ALTER PUBLICATION',
  CreateSubscriptionStmt: 'CREATE SUBSCRIPTION',
  AlterSubscriptionStmt: 'ALTER SUBSCRIPTION',
  DropSubscriptionStmt: 'DROP SUBSCRIPTION',
  AlterCollationStmt: 'ALTER COLLATION',
  PrepareStmt: 'PREPARE',
  ExecuteStmt: 'EXECUTE',
  CreateStatsStmt: 'CREATE STATISTICS',
  AlterStatsStmt: 'ALTER STATISTICS',
};

const TRANSACTION: Record<string, string> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'START TRANSACTION',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_ROLLBACK_TO: 'ROLLBACK',
  TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
  TRANS_STMT_RELEASE: 'RELEASE',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

/** Object type names as they appear in tags, where not just the enum name with spaces. */
const OBJECT_NAMES: Record<string, string> = {
  OBJECT_ATTRIBUTE: 'TYPE',
  OBJECT_COLUMN: 'TABLE',
  OBJECT_TABCONSTRAINT: 'TABLE',
  OBJECT_DOMCONSTRAINT: 'DOMAIN',
  OBJECT_FDW: 'FOREIGN DATA WRAPPER',
  OBJECT_FOREIGN_SERVER: 'SERVER',
  OBJECT_LARGEOBJECT: 'LARGE OBJECT',
  OBJECT_MATVIEW: 'MATERIALIZED VIEW',
  OBJECT_OPCLASS: 'OPERATOR CLASS',
  OBJECT_OPFAMILY: 'OPERATOR FAMILY',
  OBJECT_STATISTIC_EXT: 'STATISTICS',
  OBJECT_TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
  OBJECT_TSDICTIONARY: 'TEXT SEARCH DICTIONARY',
  OBJECT_TSPARSER: 'TEXT SEARCH PARSER',
  OBJECT_TSTEMPLATE: 'TEXT SEARCH TEMPLATE',
};

/** "OBJECT_FOREIGN_TABLE" -> "FOREIGN TABLE", following the tag spellings above. */
export function objectTypeName(objtype: unknown): string {
  const t = str(objtype) ?? '';
  return OBJECT_NAMES[t] ?? t.replace(/^OBJECT_/, '').replace(/_/g, ' ');
}

const DEFINE_KINDS = new Set([
  'OBJECT_AGGREGATE',
  'OBJECT_OPERATOR',
  'OBJECT_TYPE',
  'OBJECT_TSPARSER',
  'OBJECT_TSDICTIONARY',
  'OBJECT_TSTEMPLATE',
  'OBJECT_TSCONFIGURATION',
  'OBJECT_COLLATION',
  'OBJECT_ACCESS_METHOD',
]);

/** "AlterFooBarStmt" -> "ALTER FOO BAR": a readable tag for node types this file does not know. */
export function fallbackTag(type: string): string {
  const words = type.replace(/Stmt$/, '').match(/[A-Z]+(?![a-z])|[A-Z][a-z]*|[a-z]+|[0-9]+/g) ?? [type];
  return words.join(' ').toUpperCase();
}

export function commandTag(type: string, body: AstObject): string {
  const fixed = FIXED[type];
  if (fixed !== undefined) return fixed;
  switch (type) {
    case 'TransactionStmt':
      return TRANSACTION[str(body.kind) ?? ''] ?? 'TRANSACTION';
    case 'ClosePortalStmt':
      return body.portalname === undefined ? 'CLOSE CURSOR ALL' : 'CLOSE CURSOR';
    case 'FetchStmt':
      return body.ismove === true ? 'MOVE' : 'FETCH';
    case 'DropStmt':
      return 'DROP ' + objectTypeName(body.removeType);
    case 'RenameStmt':
      // Renaming a column takes the tag of the relation it belongs to.
      return 'ALTER ' + objectTypeName(body.renameType === 'OBJECT_COLUMN' ? body.relationType : body.renameType);
    case 'AlterObjectDependsStmt':
    case 'AlterObjectSchemaStmt':
    case 'AlterOwnerStmt':
      return 'ALTER ' + objectTypeName(body.objectType);
    case 'AlterTableMoveAllStmt':
    case 'AlterTableStmt':
      return 'ALTER ' + objectTypeName(body.objtype);
    case 'AlterFunctionStmt':
      return 'ALTER ' + objectTypeName(body.objtype ?? 'OBJECT_FUNCTION');
    case 'GrantStmt':
      return body.is_grant === true ? 'GRANT' : 'REVOKE';
    case 'GrantRoleStmt':
      return body.is_grant === true ? 'GRANT ROLE' : 'REVOKE ROLE';
    case 'DefineStmt':
      return DEFINE_KINDS.has(str(body.kind) ?? '') ? 'CREATE ' + objectTypeName(body.kind) : '???';
    case 'CreateFunctionStmt':
      return body.is_procedure === true ? 'CREATE PROCEDURE' : 'CREATE FUNCTION';
    case 'VacuumStmt':
      return body.is_vacuumcmd === true ? 'VACUUM' : 'ANALYZE';
    case 'CreateTableAsStmt':
      if (body.objtype === 'OBJECT_MATVIEW') return 'CREATE MATERIALIZED VIEW';
      return body.is_select_into === true ? 'SELECT INTO' : 'CREATE TABLE AS';
    case 'VariableSetStmt':
      return body.kind === 'VAR_RESET' || body.kind === 'VAR_RESET_ALL' ? 'RESET' : 'SET';
    case 'DiscardStmt':
      return 'DISCARD ' + (str(body.target) ?? 'DISCARD_ALL').replace(/^DISCARD_/, '');
    case 'DeallocateStmt':
      return body.isall === true || body.name === undefined ? 'DEALLOCATE ALL' : 'DEALLOCATE';
    default:
      return fallbackTag(type);
  }
}
