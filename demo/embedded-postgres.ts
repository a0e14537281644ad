// An embedded PostgreSQL for the demo: PGlite (PostgreSQL 18 compiled to WebAssembly, in this
// process) behind a wire-protocol server (pglite-server.ts), so the gateway and node-postgres
// reach it over TCP like any server.
//
// What PGlite is and is not (found by trying; docs/demo.md):
// - One backend. Connections are multiplexed onto it (pglite-server.ts): statements run one
//   at a time, a transaction holds the backend until it ends, session state (SET, prepared
//   statements) is shared by every connection.
// - One user. The startup message's user is accepted and ignored: every connection is the
//   superuser `postgres` (no roles are enforced, no password is asked).
// - LISTEN/NOTIFY: a notification goes to the connection whose statement committed it, not to
//   the connections that listen.
import { PGlite } from '@electric-sql/pglite';
import { PgliteServer } from './pglite-server.js';

export interface EmbeddedPostgres {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** postgres://postgres@host:port/postgres (no password: PGlite asks for none). */
  readonly url: string;
  /** The database itself, for reading what is really stored (bypassing the wire). */
  readonly db: PGlite;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** For messages: what this instance is for. */
  name: string;
  /** SQL run before the server listens (the demo schema). */
  initSql?: string;
  /** application_name of connections that may run inside another's transaction (pglite-server.ts). */
  privilegedApplications?: string[];
  /** Unexpected server-side failures (logged by the caller). */
  onError?: (err: Error) => void;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  // In memory: the demo's database lives as long as the demo (the evidence is what it keeps).
  const db = await PGlite.create();
  const server = new PgliteServer({ db, privilegedApplications: opts.privilegedApplications, onError: opts.onError });
  let address;
  try {
    if (opts.initSql) await db.exec(opts.initSql);
    address = await server.start();
  } catch (err) {
    await server.stop().catch(() => {});
    await db.close().catch(() => {});
    throw new Error(`cannot start the embedded PostgreSQL (${opts.name}): ${(err as Error).message}`, { cause: err });
  }
  let stopped: Promise<void> | null = null;
  return {
    name: opts.name,
    host: address.address,
    port: address.port,
    database: 'postgres',
    url: `postgres://postgres@${address.address}:${address.port}/postgres`,
    db,
    stop() {
      // Connections first (an open transaction is rolled back), then the database.
      stopped ??= server.stop().then(() => db.close());
      return stopped;
    },
  };
}
