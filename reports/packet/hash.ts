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
 * Counts the records of RFC 4180 CSV fed in chunks (bytes or text): quoted fields may hold
 * commas, quotes and line breaks; a record ends at CRLF or LF outside quotes. Works on bytes,
 * since '"', CR and LF never occur inside a UTF-8 multi-byte sequence, so a file of any size is
 * counted while it streams past.
 */
export class CsvRecordCounter {
  private records = 0;
  private inQuotes = false;
  private pending = false; // characters seen since the last record break
  private quotePending = false; // a '"' inside quotes at the end of the last chunk (an escaped "" or the closing quote)
  private crPending = false; // a CR at the end of the last chunk

  feed(chunk: Uint8Array | string): void {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (let i = 0; i < b.length; i++) {
      const ch = b[i]!;
      if (this.quotePending) {
        this.quotePending = false;
        if (ch === 0x22) {
          this.pending = true; // "" inside quotes: a literal quote, still quoted
          continue;
        }
        this.inQuotes = false; // the quote closed the field; handle ch below
      }
      if (this.crPending) {
        this.crPending = false;
        if (ch !== 0x0a) this.pending = true; // a lone CR is data
      }
      if (this.inQuotes) {
        if (ch === 0x22) this.quotePending = true;
        this.pending = true;
      } else if (ch === 0x22) {
        this.inQuotes = true;
        this.pending = true;
      } else if (ch === 0x0a) {
        this.records++;
        this.pending = false;
      } else if (ch === 0x0d) {
        this.crPending = true; // CRLF: the LF ends the record
      } else this.pending = true;
    }
  }

  /** Data rows: records after the header row. */
  dataRows(): number {
    const records = this.records + (this.pending || this.crPending ? 1 : 0);
    return Math.max(0, records - 1);
  }
}

/** Data rows in RFC 4180 CSV text (records after the header row). */
export function csvDataRows(text: string): number {
  const c = new CsvRecordCounter();
  c.feed(text);
  return c.dataRows();
}
