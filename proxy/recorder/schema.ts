// The record schema: one Arrow table, one row per record, a `kind` column saying which. The
// recorder owns it; collectors, verify-log and replay import it. docs/record-schema.md
// describes every column: change both together, and raise RECORD_SCHEMA_VERSION when a
// column is added, removed or changes meaning (readers refuse versions they do not know).
import { Field, FixedSizeBinary, Int64, Schema, TimeUnit, Timestamp, Utf8 } from 'apache-arrow';

export const RECORD_SCHEMA_VERSION = 1;
/** Arrow schema metadata keys. */
export const META_FORMAT = 'auditgate.record_format';
export const META_VERSION = 'auditgate.record_schema_version';
export const META_GATEWAY = 'auditgate.gateway_id';
export const RECORD_FORMAT = 'auditgate-records';

export type RecordKind =
  | 'session_start' // a connection attempt and its connect decision (refused ones too)
  | 'statement' // intent: the SQL and its decision, written before anything is forwarded
  | 'statement_end' // outcome: rows, duration, masked counts, error
  | 'approval' // an approval event (requested, approved, rejected, expired, released)
  | 'session_end'
  | 'bundle_loaded'; // a policy bundle came into force (detail: its manifest)

export type ColumnType = 'utf8' | 'int64' | 'timestamp' | 'hash';

/** Columns in schema order; the record hash covers them in this order (see chain.ts). */
export const COLUMNS = [
  ['seq', 'int64'],
  ['kind', 'utf8'],
  ['ts', 'timestamp'],
  ['gateway_id', 'utf8'],
  ['session_id', 'utf8'],
  ['statement_id', 'int64'],
  ['prev_hash', 'hash'],
  ['hash', 'hash'],
  // identity (verified from the agent's token)
  ['subject', 'utf8'],
  ['issuer', 'utf8'],
  ['identity_kind', 'utf8'],
  ['groups', 'utf8'], // JSON array
  ['claims', 'utf8'], // JSON object: provenance claims (model, repository, ticket, ...)
  // session
  ['client_addr', 'utf8'],
  ['application_name', 'utf8'],
  ['database', 'utf8'],
  ['upstream_role', 'utf8'],
  // statement
  ['sql', 'utf8'],
  ['fingerprint', 'utf8'],
  ['protocol', 'utf8'],
  ['statement_kind', 'utf8'], // the analyzer's kinds, comma-separated for a multi-statement string
  ['command_tag', 'utf8'],
  ['tables', 'utf8'], // JSON [{schema, name, access}]
  ['functions', 'utf8'], // JSON ["schema.name" | "name"]
  ['params_sha256', 'utf8'], // hash of the bound parameters (never the values)
  // decision
  ['decision', 'utf8'], // allow | deny | approval_required | approved | error
  ['reasons', 'utf8'], // JSON array
  ['bundle_sha256', 'utf8'],
  ['approval_id', 'utf8'],
  // outcome
  ['rows', 'int64'],
  ['duration_us', 'int64'],
  ['masked', 'utf8'], // JSON {"schema.table.column": count}
  ['detector_hits', 'utf8'], // JSON {"detector": count}
  ['error_sqlstate', 'utf8'],
  ['detail', 'utf8'], // JSON, kind-specific (approval event, end reason, bundle manifest)
] as const satisfies readonly (readonly [string, ColumnType])[];

export type ColumnName = (typeof COLUMNS)[number][0];
type TypeOf<T extends ColumnType> = T extends 'utf8' ? string : T extends 'hash' ? Uint8Array : number;
type Row = { [C in (typeof COLUMNS)[number] as C[0]]: TypeOf<C[1]> | null };

/** One record as read back: every column, null where the kind does not use it. */
export type StoredRecord = Row & { seq: number; kind: RecordKind; ts: number; gateway_id: string; prev_hash: Uint8Array; hash: Uint8Array };

/** What the gateway hands the recorder: the recorder fills seq, ts, gateway_id and the hashes. */
export type RecordInput = Partial<Omit<Row, 'seq' | 'gateway_id' | 'prev_hash' | 'hash' | 'kind'>> & { kind: RecordKind };

const arrowType = (t: ColumnType) =>
  t === 'utf8' ? new Utf8() : t === 'int64' ? new Int64() : t === 'timestamp' ? new Timestamp(TimeUnit.MICROSECOND, 'UTC') : new FixedSizeBinary(32);

const NOT_NULL = new Set<ColumnName>(['seq', 'kind', 'ts', 'gateway_id', 'prev_hash', 'hash']);

export function recordSchema(gatewayId: string): Schema {
  const fields = COLUMNS.map(([name, type]) => new Field(name, arrowType(type), !NOT_NULL.has(name)));
  return new Schema(
    fields,
    new Map([
      [META_FORMAT, RECORD_FORMAT],
      [META_VERSION, String(RECORD_SCHEMA_VERSION)],
      [META_GATEWAY, gatewayId],
    ]),
  );
}
