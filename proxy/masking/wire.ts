// Readers for the two backend messages that shape a result: RowDescription ('T') and
// CopyOutResponse ('H'). OIDs are read unsigned (pg-protocol's parser reads them as signed int32,
// which turns OIDs above 2^31 negative).
import { MaskingError } from './datarow.js';

export interface RowDescriptionField {
  name: string;
  /** OID of the table the column comes from, 0 when none. */
  tableID: number;
  /** Attribute number in that table, 0 when none (or a whole-row reference). */
  columnID: number;
  dataTypeID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
  /** 0 text, 1 binary (always 0 in the answer to Describe of a statement). */
  format: number;
}

export function readRowDescription(message: Buffer): RowDescriptionField[] {
  if (message[0] !== 0x54 || message.length < 7) throw new MaskingError('not a RowDescription message');
  const n = message.readInt16BE(5);
  const out: RowDescriptionField[] = [];
  let off = 7;
  for (let i = 0; i < n; i++) {
    const end = message.indexOf(0, off);
    if (end < 0 || end + 19 > message.length) throw new MaskingError('truncated RowDescription');
    const name = message.toString('utf8', off, end);
    off = end + 1;
    out.push({
      name,
      tableID: message.readUInt32BE(off),
      columnID: message.readInt16BE(off + 4),
      dataTypeID: message.readUInt32BE(off + 6),
      dataTypeSize: message.readInt16BE(off + 10),
      dataTypeModifier: message.readInt32BE(off + 12),
      format: message.readInt16BE(off + 16),
    });
    off += 18;
  }
  return out;
}

export interface CopyOutShape {
  /** 0: text or csv (the message does not say which), 1: binary. */
  format: number;
  columnFormats: number[];
}

export function readCopyOutResponse(message: Buffer): CopyOutShape {
  if (message[0] !== 0x48 || message.length < 8) throw new MaskingError('not a CopyOutResponse message');
  const format = message.readInt8(5);
  const n = message.readInt16BE(6);
  if (message.length < 8 + 2 * n) throw new MaskingError('truncated CopyOutResponse');
  const columnFormats: number[] = [];
  for (let i = 0; i < n; i++) columnFormats.push(message.readInt16BE(8 + 2 * i));
  return { format, columnFormats };
}

/**
 * Per-column result formats from Bind's result-format codes: none → all text, one → all columns,
 * otherwise one per column.
 */
export function expandFormats(codes: readonly number[], columns: number): number[] {
  if (codes.length === 0) return new Array<number>(columns).fill(0);
  if (codes.length === 1) return new Array<number>(columns).fill(codes[0]!);
  return Array.from({ length: columns }, (_, i) => codes[i] ?? 0);
}
