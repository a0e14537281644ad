// One open segment file: appends encoded batches, makes them durable (O_DSYNC writes, or
// fdatasync), cuts a torn write back off after a failure, and seals the file when it is closed.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { SigningKey } from './keys.js';
import { EOS } from './ipc.js';
import { SEAL_FORMAT, SEAL_VERSION, sealDigest, signSeal, type Seal, type SealBody } from './seal.js';
import { RECORD_SCHEMA_VERSION } from './schema.js';
import { hex } from './chain.js';

/** Written while open; read-only once sealed. The directory keeps agents out (docs/recording.md). */
export const OPEN_MODE = 0o640;
export const SEALED_MODE = 0o440;

/**
 * An open segment's file is opened with O_DSYNC where the platform has it: each write returns
 * once its data is on disk, as write + fdatasync would, in one trip to libuv's thread pool
 * instead of two. A strict recorder appends once per statement (or per group of concurrent
 * ones), so that trip is a visible part of each statement's cost.
 */
const DSYNC = constants.O_DSYNC ?? 0;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | DSYNC;

export interface SegmentStart {
  gatewayId: string;
  firstSeq: number;
  firstPrevHash: Uint8Array;
  prevSealSha256: string | null;
}

export class SegmentWriter {
  /** Bytes known to be on disk (after the last successful sync). */
  private durable = 0;
  private lastSeq: number;
  private lastHash: Uint8Array;
  private records = 0;
  private dirty = false;
  private eos = false;
  private sealed = false;
  readonly openedAt = new Date();

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly start: SegmentStart,
  ) {
    this.lastSeq = start.firstSeq - 1;
    this.lastHash = start.firstPrevHash;
  }

  /** Creates the file (it must not exist) and makes its schema message durable. */
  static async create(path: string, start: SegmentStart, header: Buffer): Promise<SegmentWriter> {
    const fh = await open(path, CREATE_FLAGS, OPEN_MODE);
    const w = new SegmentWriter(path, fh, start);
    try {
      await w.append(header, null);
    } catch (err) {
      await fh.close().catch(() => {});
      await unlink(path).catch(() => {}); // nothing in it yet: the next attempt starts afresh
      throw err;
    }
    return w;
  }

  get bytes(): number {
    return this.durable;
  }

  get age(): number {
    return Date.now() - this.openedAt.getTime();
  }

  get recordCount(): number {
    return this.records;
  }

  /**
   * Writes and syncs. On failure the file is cut back to its last durable length so the next
   * append starts on a clean boundary; if even that fails the caller must abandon the segment.
   */
  async append(bytes: Buffer, last: { seq: number; hash: Uint8Array; count: number } | null): Promise<void> {
    if (this.sealed) throw new Error('append to a sealed segment');
    try {
      // A failed write may have left part of a batch behind: cut it off before writing again.
      if (this.dirty) {
        await this.fh.truncate(this.durable);
        this.dirty = false;
      }
      this.dirty = true;
      let off = 0;
      while (off < bytes.length) {
        const { bytesWritten } = await this.fh.write(bytes, off, bytes.length - off, this.durable + off);
        off += bytesWritten;
      }
      if (!DSYNC) await this.fh.datasync();
      this.dirty = false;
    } catch (err) {
      if (this.dirty) await this.fh.truncate(this.durable).then(() => (this.dirty = false), () => {});
      throw err;
    }
    this.durable += bytes.length;
    if (last) {
      this.lastSeq = last.seq;
      this.lastHash = last.hash;
      this.records += last.count;
    }
  }

  /**
   * Ends the stream, signs the seal, makes both durable; the segment becomes read-only.
   * Retryable: a failure leaves the segment as it was, or with its end marker already durable.
   */
  async seal(key: SigningKey, recovered = false): Promise<Seal> {
    if (!this.eos) {
      await this.append(EOS, null);
      this.eos = true;
    }
    const bytes = await readFile(this.path);
    const body: SealBody = {
      format: SEAL_FORMAT,
      version: SEAL_VERSION,
      gateway_id: this.start.gatewayId,
      segment: basename(this.path),
      record_schema_version: RECORD_SCHEMA_VERSION,
      first_seq: this.start.firstSeq,
      last_seq: this.lastSeq,
      records: this.records,
      first_prev_hash: hex(this.start.firstPrevHash),
      last_hash: hex(this.lastHash),
      segment_sha256: createHash('sha256').update(bytes).digest('hex'),
      segment_bytes: bytes.length,
      prev_seal_sha256: this.start.prevSealSha256,
      opened_at: this.openedAt.toISOString(),
      sealed_at: new Date().toISOString(),
      recovered,
      key_id: key.keyId,
    };
    const seal = signSeal(body, key.privateKey);
    await writeSealFile(this.path, seal);
    this.sealed = true;
    await this.fh.close().catch(() => {});
    await chmod(this.path, SEALED_MODE).catch(() => {});
    return seal;
  }

  /** Closes without sealing (a segment the writer gave up on; restart recovery seals it). */
  async abandon(): Promise<void> {
    await this.fh.close().catch(() => {});
  }

  static async resume(path: string, start: SegmentStart, state: { bytes: number; lastSeq: number; lastHash: Uint8Array; records: number; openedAt?: Date }): Promise<SegmentWriter> {
    const fh = await open(path, 'r+');
    await fh.truncate(state.bytes);
    await fh.datasync();
    const w = new SegmentWriter(path, fh, start);
    w.durable = state.bytes;
    w.lastSeq = state.lastSeq;
    w.lastHash = state.lastHash;
    w.records = state.records;
    if (state.openedAt) (w as { openedAt: Date }).openedAt = state.openedAt;
    return w;
  }
}

/** Atomic: a reader sees no seal or the whole seal. */
export async function writeSealFile(segmentPath: string, seal: Seal): Promise<void> {
  const final = `${segmentPath}.seal`;
  const tmp = `${final}.tmp`;
  const fh = await open(tmp, 'w', SEALED_MODE);
  try {
    await fh.writeFile(`${JSON.stringify(seal, null, 2)}\n`);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, final);
  await syncDir(dirname(segmentPath));
}

export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export { sealDigest };
