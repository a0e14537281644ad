// What the relay asks of masking for one statement's result. The masking module implements
// it; `null` means the result passes untouched (no mask plan, no detectors). A filter that
// sees DataRows without ever having seen a RowDescription must mask every column.
export interface ResultFilter {
  /**
   * May resolve column origins asynchronously (catalog lookups). Returns what to forward.
   * `formats`: the Bind's result format codes for Execute results (the description then comes
   * from a Describe, whose format codes are not the ones in use).
   */
  onRowDescription(message: Buffer, formats?: number[]): Buffer | Promise<Buffer>;
  onDataRow(message: Buffer): Buffer;
  onCopyOutResponse(message: Buffer): Buffer | Promise<Buffer>;
  onCopyData(message: Buffer): Buffer;
  onErrorOrNotice(message: Buffer): Buffer;
  /** What was masked (counts only, never values), for the statement's record. */
  summary?(): { masked: { column: string; method: string; reason: string; count: number }[]; detectorHits: Record<string, number> };
}
