// Digests and the canonical forms both the packet writer and `auditgate verify` use, so a
// hash computed when the packet is generated is the hash verify recomputes.
import { createHash } from 'node:crypto';

export const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

export { sha256File } from '../../collectors/file-digest.js';

/**
 * The canonical serialisation of a query result: compact JSON of `{columns, rows}` with each
 * value as `toPlain` gives it (exact integers, hex for blobs, ISO-ish strings for times).
 * result_sha256 in queries/<id>.meta.json is the sha256 of this string (UTF-8).
 */
export function canonicalResult(r: { columns: string[]; rows: unknown[][] }): string {
  return JSON.stringify({ columns: r.columns, rows: r.rows });
}

export const resultSha256 = (r: { columns: string[]; rows: unknown[][] }): string => sha256Hex(canonicalResult(r));

/**
 * Data rows in RFC 4180 CSV text (records after the header row). Quoted fields may hold
 * commas, quotes and line breaks; a record ends at CRLF or LF outside quotes.
 */
export function csvDataRows(text: string): number {
  let records = 0;
  let inQuotes = false;
  let pending = false; // characters seen since the last record break
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') i++;
        else inQuotes = false;
      }
      pending = true;
    } else if (ch === '"') {
      inQuotes = true;
      pending = true;
    } else if (ch === '\n') {
      records++;
      pending = false;
    } else if (ch === '\r' && text[i + 1] === '\n') {
      // the LF ends the record
    } else pending = true;
  }
  if (pending) records++;
  return Math.max(0, records - 1);
}
