import { createHash } from 'node:crypto';

/** What an approval is bound to: the exact SQL text and bound parameter values. */
export function statementHash(sql: string, params: readonly (string | null)[] | null): string {
  const h = createHash('sha256').update('auditgate-statement-v1\u0000').update(sql).update('\u0000');
  for (const p of params ?? []) h.update(p === null ? '\u0000N' : `\u0001${Buffer.byteLength(p)}:${p}`);
  return h.digest('hex');
}
