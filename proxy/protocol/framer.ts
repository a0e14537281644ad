// Splits a PostgreSQL protocol byte stream into whole messages without copying where it can:
// a chunk holding several complete messages yields subarrays of it; a message spread over
// chunks is assembled once, when its last byte arrives (no quadratic re-concatenation).
import { ProtocolError } from './errors.js';

export interface FramerOptions {
  /** Messages before the first typed one have no type byte (startup packets). */
  startup?: boolean;
  /** Largest message accepted, header included. */
  maxMessageBytes: number;
}

const EMPTY = Buffer.alloc(0);

export class MessageFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private startup: boolean;
  private readonly max: number;

  constructor(opts: FramerOptions) {
    this.startup = opts.startup ?? false;
    this.max = opts.maxMessageBytes;
  }

  /** After the startup packet the stream carries typed messages. */
  typed(): void {
    this.startup = false;
  }

  /** Messages already buffered (e.g. sent right after a startup packet, before a mode switch). */
  drain(): Buffer[] {
    return this.push(EMPTY);
  }

  /** Hands over the bytes of an incomplete message (when another reader takes the stream). */
  takeBuffered(): Buffer {
    const rest = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }

  get pendingBytes(): number {
    return this.buffered;
  }

  /** Adds bytes and returns every message now complete (each: header + body). Throws ProtocolError. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (this.buffered === 0) {
      const rest = this.take(chunk, out);
      if (rest.length) this.keep(rest);
      return out;
    }
    this.keep(chunk);
    const need = this.neededLength();
    if (need === null || this.buffered < need) return out;
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    const rest = this.take(joined, out);
    if (rest.length) this.keep(rest);
    return out;
  }

  /** Takes whole messages off the front of `buf`; returns what is left (an incomplete message). */
  private take(buf: Buffer, out: Buffer[]): Buffer {
    let off = 0;
    for (;;) {
      const len = this.messageLength(buf, off);
      if (len === null || buf.length - off < len) return buf.subarray(off);
      out.push(buf.subarray(off, off + len));
      off += len;
      // Only the first message of a connection is a startup packet; the caller switches modes
      // (SSLRequest is followed by another startup packet, so it decides, not us).
      if (this.startup) return buf.subarray(off);
    }
  }

  private keep(buf: Buffer): void {
    this.chunks.push(buf);
    this.buffered += buf.length;
  }

  private neededLength(): number | null {
    const head = this.chunks[0]!;
    const headerLen = this.startup ? 4 : 5;
    if (head.length >= headerLen) return this.messageLength(head, 0);
    if (this.buffered < headerLen) return null;
    return this.messageLength(Buffer.concat(this.chunks, this.buffered), 0);
  }

  /** Total length of the message at `off`, header included; null when the header is incomplete. */
  private messageLength(buf: Buffer, off: number): number | null {
    if (this.startup) {
      if (buf.length - off < 4) return null;
      const len = buf.readInt32BE(off);
      if (len < 8 || len > Math.min(this.max, 10_000)) throw new ProtocolError(`invalid startup packet length ${len}`);
      return len;
    }
    if (buf.length - off < 5) return null;
    const len = buf.readInt32BE(off + 1);
    if (len < 4) throw new ProtocolError(`invalid length ${len} for message '${String.fromCharCode(buf[off]!)}'`);
    if (len + 1 > this.max) {
      throw new ProtocolError(`message '${String.fromCharCode(buf[off]!)}' of ${len + 1} bytes exceeds the ${this.max}-byte limit`);
    }
    return len + 1;
  }
}
