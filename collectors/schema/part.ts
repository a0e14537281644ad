/** One concern's tables and views in the evidence database, applied in SCHEMA_PARTS order. */
export interface SchemaPart {
  name: string;
  /** Raise when the statements change; a newer database refuses an older auditgate. */
  version: number;
  /** Idempotent DDL: CREATE TABLE IF NOT EXISTS, CREATE OR REPLACE VIEW. */
  statements: string[];
}
