// The classification of the policy data (data.auditgate_config.masking, docs/policy-default.md)
// flattened to "schema.table.column" → method, for ResultMasker's `classified` option: columns
// the decision could not know about (reached through a view, a cursor, a prepared statement) are
// still masked. Clearance is not evaluated here: such columns are masked for everyone (fail closed).
import { normalizeMethod, type MaskMethod } from './methods.js';

export interface MaskingConfig {
  default_method?: string | null;
  classes?: Record<string, { method?: string | null } | null> | null;
  columns?: Record<string, Record<string, Record<string, { class?: string | null; method?: string | null } | null>>> | null;
}

/** A column's method is its own, else its class's, else default_method, else redact (as in the policy). */
export function classifiedColumns(cfg: MaskingConfig | null | undefined): Map<string, MaskMethod> {
  const out = new Map<string, MaskMethod>();
  for (const [schema, tables] of Object.entries(cfg?.columns ?? {})) {
    for (const [table, columns] of Object.entries(tables ?? {})) {
      for (const [column, spec] of Object.entries(columns ?? {})) {
        const cls = spec?.class ? cfg?.classes?.[spec.class] : undefined;
        const method = spec?.method ?? cls?.method ?? cfg?.default_method ?? 'redact';
        out.set(`${schema}.${table}.${column}`.toLowerCase(), normalizeMethod(method));
      }
    }
  }
  return out;
}
