// A statement's shape: its text with every constant replaced by $n, by PostgreSQL's own parser
// (libpg-query normalize). Statements of the same shape differ only in constant values, so a
// decision that read no constant (the policy says so: ignores_literals) holds for all of them.
import { normalizeSync } from 'libpg-query';
import { analyzerReady } from './analyze.js';

/** The shape of `sql`, or null when the parser refuses it (or the parser is not loaded). */
export function shapeOf(sql: string): string | null {
  // The parser reads a C string: text after a NUL would not be part of the shape.
  if (!analyzerReady() || sql.includes('\0')) return null;
  try {
    return normalizeSync(sql);
  } catch {
    return null;
  }
}
