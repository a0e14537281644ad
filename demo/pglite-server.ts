// A PostgreSQL wire server for one PGlite database: several client connections multiplexed
// onto PGlite's single backend, safely.
//
// Why not @electric-sql/pglite-socket's PGLiteSocketServer (0.2.17), which does this too? Its
// queue interleaves connections message by message, and PGlite has one unnamed prepared
// statement and one unnamed portal for everyone: when one connection's Parse ... Sync reaches
// it in more than one TCP read (the gateway forwards Execute only once the statement is decided
// and its record is on disk), another connection's statement can run in between and replace
// or drop them (26000 "unnamed prepared statement does not exist", or worse, the other
// statement's plan bound to this one's values). And a connection with an open transaction
// blocks every other, including the gateway's catalog lookups, which the session in that
// transaction is waiting for: a deadlock (try `BEGIN; SELECT * FROM customers;` through the
// gateway). docs/demo.md has the details.
//
// Here, a connection's messages run as units: everything up to and including Sync or a
// simple Query (or Flush, FunctionCall, a COPY message) runs in one go, so no other statement
// comes between a Parse and its Sync. Units run one at a time, oldest first. A connection that
// leaves the backend inside a transaction block, or between a Flush and its Sync, owns the
// backend: only its own units run until it is done (or disconnects: its transaction is rolled
// back). One exception, for the gateway's catalog lookups (read-only, always ending in Sync):
// connections whose startup names one of `privilegedApplications` may run while another owns
// a transaction block; they then run inside that transaction (PGlite has only one), seeing its
// uncommitted changes, and an error of theirs would abort it. They never run between another
// connection's Parse and Sync.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
const MAX_MESSAGE = 64 * 1024 * 1024;

/** Unit boundaries: after these, the connection no longer needs the backend for itself... */
const CLEAN_END = new Set(['S', 'Q', 'F', 'c', 'f']);
/** ...after these it still does (output was asked for mid-sequence, or COPY FROM is going on). */
const HELD_END = new Set(['H', 'd']);

interface Conn {
  id: number;
  socket: Socket;
  buf: Buffer;
  started: boolean;
  privileged: boolean;
  partial: Buffer[];
  partialBytes: number;
  closed: boolean;
}

interface Unit {
  conn: Conn;
  bytes: Buffer;
  /** Ends at a protocol boundary (Sync, Query, ...): nothing of this connection is half-done. */
  clean: boolean;
}

export interface PgliteServerOptions {
  db: PGlite;
  host?: string;
  /** application_name values whose connections may run inside another connection's transaction. */
  privilegedApplications?: string[];
  maxConnections?: number;
  /** Unexpected failures (a PGlite error, a protocol violation). */
  onError?: (err: Error) => void;
}

export class PgliteServer {
  private server: Server | null = null;
  private readonly conns = new Set<Conn>();
  private readonly queue: Unit[] = [];
  private owner: Conn | null = null;
  /** The owner is between a Flush (or COPY data) and its end: nobody else may run. */
  private ownerMidSequence = false;
  private running = false;
  private nextId = 1;

  constructor(private readonly opts: PgliteServerOptions) {}

  async start(): Promise<AddressInfo> {
    await this.opts.db.waitReady;
    const server = createServer((socket) => this.accept(socket));
    server.maxConnections = this.opts.maxConnections ?? 64;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.onError?.(err));
    this.server = server;
    return server.address() as AddressInfo;
  }

  /** What is waiting, for tests and diagnostics: connections, complete units queued, messages of units not yet complete. */
  stats(): { connections: number; queuedUnits: number; bufferedMessages: number; owner: number | null } {
    let buffered = 0;
    for (const c of this.conns) buffered += c.partial.length;
    return { connections: this.conns.size, queuedUnits: this.queue.length, bufferedMessages: buffered, owner: this.owner?.id ?? null };
  }

  /** Closes every connection (rolling back an open transaction) and stops listening. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of [...this.conns]) c.socket.destroy();
    // Let the close handlers run their rollback before the caller closes the database.
    while (this.running || this.conns.size > 0) await new Promise((r) => setTimeout(r, 5));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const conn: Conn = { id: this.nextId++, socket, buf: Buffer.alloc(0), started: false, privileged: false, partial: [], partialBytes: 0, closed: false };
    this.conns.add(conn);
    socket.on('data', (d: Buffer) => this.onData(conn, d));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => void this.onClose(conn));
  }

  private onData(conn: Conn, data: Buffer): void {
    if (conn.closed) return;
    conn.buf = conn.buf.length ? Buffer.concat([conn.buf, data]) : data;
    try {
      while (conn.started ? this.takeMessage(conn) : this.takeStartup(conn));
    } catch (err) {
      this.opts.onError?.(err as Error);
      conn.socket.destroy();
      return;
    }
    this.pump();
  }

  /** SSLRequest / GSSENCRequest (answered "N": no encryption), CancelRequest (PGlite cannot cancel: dropped), StartupMessage. */
  private takeStartup(conn: Conn): boolean {
    if (conn.buf.length < 8) return false;
    const len = conn.buf.readInt32BE(0);
    const code = conn.buf.readInt32BE(4);
    if (len < 8 || len > 10_000) throw new Error(`connection ${conn.id}: not a PostgreSQL startup packet`);
    if (conn.buf.length < len) return false;
    const packet = conn.buf.subarray(0, len);
    conn.buf = conn.buf.subarray(len);
    if ((code === SSL_REQUEST || code === GSSENC_REQUEST) && len === 8) {
      conn.socket.write('N');
      return true;
    }
    if (code === CANCEL_REQUEST && len === 16) {
      conn.socket.end();
      return false;
    }
    if (code !== PROTOCOL_3) throw new Error(`connection ${conn.id}: unsupported protocol ${code >> 16}.${code & 0xffff}`);
    const params = packet.subarray(8).toString('utf8').split('\0');
    for (let i = 0; i + 1 < params.length; i += 2) {
      if (params[i] === 'application_name') conn.privileged = (this.opts.privilegedApplications ?? []).includes(params[i + 1]!);
    }
    conn.started = true;
    // PGlite answers the startup itself (AuthenticationOk, ParameterStatus, ReadyForQuery).
    this.queue.push({ conn, bytes: Buffer.from(packet), clean: true });
    return true;
  }

  private takeMessage(conn: Conn): boolean {
    if (conn.buf.length < 5) return false;
    const type = String.fromCharCode(conn.buf[0]!);
    const len = conn.buf.readInt32BE(1);
    if (len < 4 || len > MAX_MESSAGE) throw new Error(`connection ${conn.id}: bad message length ${len}`);
    if (conn.buf.length < 1 + len) return false;
    const msg = Buffer.from(conn.buf.subarray(0, 1 + len));
    conn.buf = conn.buf.subarray(1 + len);
    if (type === 'X') {
      conn.socket.end(); // Terminate: PGlite's backend outlives the connection; nothing to forward
      return false;
    }
    conn.partial.push(msg);
    conn.partialBytes += msg.length;
    if (conn.partialBytes > MAX_MESSAGE) throw new Error(`connection ${conn.id}: more than ${MAX_MESSAGE} bytes without a Sync`);
    if (CLEAN_END.has(type) || HELD_END.has(type)) {
      this.queue.push({ conn, bytes: Buffer.concat(conn.partial), clean: CLEAN_END.has(type) });
      conn.partial = [];
      conn.partialBytes = 0;
    }
    return true;
  }

  private eligible(u: Unit): boolean {
    if (this.owner === null || this.owner === u.conn) return true;
    return u.conn.privileged && u.clean && !this.ownerMidSequence;
  }

  /** Runs whatever may run, oldest first, until nothing can. */
  private pump(): void {
    if (this.running) return;
    this.running = true;
    void (async () => {
      try {
        for (;;) {
          const i = this.queue.findIndex((u) => this.eligible(u));
          if (i < 0) break;
          const [unit] = this.queue.splice(i, 1);
          await this.run(unit!);
        }
      } finally {
        this.running = false;
      }
    })();
  }

  private async run(unit: Unit): Promise<void> {
    const { conn } = unit;
    const guest = this.owner !== null && this.owner !== conn; // a privileged run inside another's transaction
    try {
      await this.opts.db.runExclusive(() =>
        this.opts.db.execProtocolRawStream(unit.bytes, {
          onRawData: (data) => {
            if (!conn.closed && conn.socket.writable) conn.socket.write(Buffer.from(data));
          },
        }),
      );
    } catch (err) {
      this.opts.onError?.(new Error(`connection ${conn.id}: PGlite failed: ${(err as Error).message}`));
      conn.socket.destroy();
    }
    if (guest) return;
    const mid = !unit.clean;
    if (this.opts.db.isInTransaction() || mid) {
      this.owner = conn;
      this.ownerMidSequence = mid;
    } else {
      this.owner = null;
      this.ownerMidSequence = false;
    }
  }

  private async onClose(conn: Conn): Promise<void> {
    if (conn.closed) return;
    conn.closed = true;
    // Its units that have not run never will.
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]!.conn === conn) this.queue.splice(i, 1);
    if (this.owner === conn) {
      // Gone in the middle of something: end it for the next connection, as a server's
      // backend would by exiting. Wait for a unit of its still running to finish first.
      while (this.running) await new Promise((r) => setTimeout(r, 1));
      this.running = true;
      try {
        await this.opts.db.runExclusive(async () => {
          if (this.ownerMidSequence) await this.opts.db.execProtocolRawStream(new Uint8Array([0x53, 0, 0, 0, 4]), { onRawData: () => {} }); // Sync
          if (this.opts.db.isInTransaction()) await this.opts.db.execProtocolRawStream(simpleQuery('ROLLBACK'), { onRawData: () => {} });
        });
      } catch (err) {
        this.opts.onError?.(new Error(`connection ${conn.id}: could not end its transaction: ${(err as Error).message}`));
      } finally {
        this.owner = null;
        this.ownerMidSequence = false;
        this.running = false;
      }
    }
    this.conns.delete(conn);
    this.pump();
  }
}

function simpleQuery(sql: string): Uint8Array {
  const body = Buffer.from(`${sql}\0`, 'utf8');
  const m = Buffer.alloc(5 + body.length);
  m.write('Q', 0, 'latin1');
  m.writeInt32BE(4 + body.length, 1);
  body.copy(m, 5);
  return m;
}
