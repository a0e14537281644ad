// The first moments of a client connection: TLS negotiation, the startup packet, the JWT
// password, the connect decision and the upstream session — then the relay takes over.
import { randomInt, randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { AccessGrant, ConnectDecision, Identity, SessionInfo } from '../../policies/contract.js';
import { timeInfo } from '../../policies/contract.js';
import type { PolicyEngine } from '../../policies/engine/engine.js';
import {
  authenticationCleartextPassword,
  authenticationOk,
  backendKeyData,
  errorResponse,
  parameterStatus,
  readyForQuery,
  sslAccepted,
  sslRefused,
} from '../protocol/backend.js';
import { ProtocolError } from '../protocol/errors.js';
import { MessageFramer } from '../protocol/framer.js';
import { parsePassword, parseStartupPacket, type StartupPacket } from '../protocol/frontend.js';
import type { Logger } from './logger.js';

/** Startup parameters passed on to the upstream session; the rest are dropped. */
const PASSED_PARAMETERS = new Set(['application_name', 'client_encoding', 'datestyle', 'timezone', 'intervalstyle', 'extra_float_digits']);
/** Refused outright: they would change the session in ways the policy never sees. */
const REFUSED_PARAMETERS: Record<string, string> = {
  options: 'the startup option "options" is not accepted: it can set the role or settings the policy never sees',
  replication: 'replication connections are not accepted through auditgate',
};

export interface UpstreamHandle {
  socket: Socket;
  parameters: Map<string, string>;
  backendKey: { processId: number; secretKey: number };
  pending: Buffer;
}

export interface UpstreamPort {
  hasCredential(role: string): boolean;
  connect(role: string, database: string, parameters: Record<string, string>): Promise<UpstreamHandle>;
}

export interface StartupOptions {
  engine: PolicyEngine;
  verifyToken(token: string): Promise<Identity>;
  /** Active access grants of an identity (approved access requests); absent: none. */
  activeGrants?: (subject: string) => Promise<AccessGrant[]>;
  upstream: UpstreamPort;
  target: string;
  environment: string;
  /** Force this upstream database; null: the one the agent asked for. */
  database: string | null;
  tls: SecureContext | null;
  requireTls: boolean;
  maxMessageBytes: number;
  startupTimeoutMs: number;
  log: Logger;
  /** Answers a CancelRequest (looked up by the key the gateway gave the agent). */
  onCancel(processId: number, secretKey: number): void;
}

export interface EstablishedSession {
  client: Socket;
  upstream: UpstreamHandle;
  identity: Identity;
  session: SessionInfo;
  connect: ConnectDecision;
  /** The key the agent got in BackendKeyData (never the upstream's). */
  gatewayKey: { processId: number; secretKey: number };
  /** Client bytes that arrived after the password (pipelined queries). */
  clientBytes: Buffer;
  tls: boolean;
}

/** A refusal during startup: sent to the agent as a FATAL ErrorResponse with this SQLSTATE. */
export class StartupRefused extends Error {
  /** What was known when the connection was refused (for the audit record). */
  context: StartupContext = {};
  constructor(
    readonly sqlstate: string,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'StartupRefused';
  }
}

export interface StartupContext {
  user?: string;
  tls?: boolean;
  clientAddress?: string;
  identity?: Identity;
  session?: SessionInfo;
}

/** Reads whole messages from a socket that may be swapped for its TLS wrapper. */
class MessageReader {
  private queue: Buffer[] = [];
  private waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer) => {
    try {
      this.queue.push(...this.framer.push(chunk));
    } catch (err) {
      this.failure = err as Error;
    }
    this.wake();
  };
  private readonly onEnd = () => {
    this.failure ??= new StartupRefused('08006', 'connection closed during startup');
    this.wake();
  };

  readonly framer: MessageFramer;

  constructor(
    public socket: Socket,
    maxMessageBytes: number,
  ) {
    this.framer = new MessageFramer({ startup: true, maxMessageBytes });
    this.attach();
  }

  private attach(): void {
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onEnd);
    this.socket.on('error', this.onEnd);
  }

  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onEnd);
  }

  /** After SSLRequest: any plaintext already buffered would be injected data (CVE-2021-23214). */
  upgrade(tlsSocket: Socket): void {
    if (this.queue.length || this.framer.pendingBytes) throw new ProtocolError('data received after SSLRequest before TLS started');
    this.detach();
    this.socket = tlsSocket;
    this.attach();
  }

  /** The startup packet is done: the rest of the stream is typed messages. */
  typed(): void {
    this.framer.typed();
    this.queue.push(...this.framer.drain());
  }

  next(): Promise<Buffer> {
    const ready = this.queue.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Everything buffered beyond the messages consumed so far. */
  remaining(): Buffer {
    const bytes = Buffer.concat([...this.queue, this.framer.takeBuffered()]);
    this.queue = [];
    return bytes;
  }

  private wake(): void {
    if (!this.waiter) return;
    const w = this.waiter;
    const ready = this.queue.shift();
    if (ready) {
      this.waiter = null;
      w.resolve(ready);
    } else if (this.failure) {
      this.waiter = null;
      w.reject(this.failure);
    }
  }
}

/**
 * Runs the startup handshake. Resolves with the established session (client and upstream
 * ready for the relay) or null when the connection was only a CancelRequest. Any refusal is
 * sent to the agent and the socket closed before this rejects.
 */
export async function establishSession(client: Socket, opts: StartupOptions): Promise<EstablishedSession | null> {
  const reader = new MessageReader(client, opts.maxMessageBytes);
  const context: StartupContext = {};
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StartupRefused('08006', `startup did not complete within ${opts.startupTimeoutMs} ms`)), opts.startupTimeoutMs);
  });
  try {
    return await Promise.race([handshake(reader, opts, context), timeout]);
  } catch (err) {
    const refused =
      err instanceof StartupRefused
        ? err
        : err instanceof ProtocolError
          ? new StartupRefused('08P01', `invalid startup: ${err.message}`)
          : new StartupRefused('XX000', 'internal error during startup');
    refused.context = context;
    if (!(err instanceof StartupRefused) && !(err instanceof ProtocolError)) {
      opts.log.error('startup failed', { error: (err as Error).stack });
    }
    reader.detach();
    const socket = reader.socket;
    if (!socket.destroyed) {
      socket.on('error', () => {});
      socket.end(errorResponse({ severity: 'FATAL', code: refused.sqlstate, message: `auditgate: ${refused.message}` }));
    }
    throw refused;
  } finally {
    clearTimeout(timer);
  }
}

async function handshake(reader: MessageReader, opts: StartupOptions, context: StartupContext): Promise<EstablishedSession | null> {
  context.clientAddress = reader.socket.remoteAddress ?? '';
  let packet: StartupPacket = parseStartupPacket(await reader.next());
  let tls = false;
  while (packet.type === 'ssl_request' || packet.type === 'gssenc_request') {
    if (packet.type === 'ssl_request' && opts.tls && !tls) {
      reader.socket.write(sslAccepted());
      const secure = new TLSSocket(reader.socket, { isServer: true, secureContext: opts.tls });
      reader.upgrade(secure);
      await new Promise<void>((resolve, reject) => {
        secure.once('secure', resolve);
        secure.once('error', (e) => reject(new StartupRefused('08P01', `TLS handshake failed: ${e.message}`)));
      });
      tls = true;
    } else {
      reader.socket.write(sslRefused()); // GSSENCRequest is always declined; SSLRequest without TLS configured
    }
    packet = parseStartupPacket(await reader.next());
  }
  if (packet.type === 'cancel_request') {
    opts.onCancel(packet.processId, packet.secretKey);
    reader.detach();
    reader.socket.end();
    return null;
  }
  if (opts.requireTls && !tls) throw new StartupRefused('28000', 'TLS is required: connect with sslmode=require');

  context.tls = tls;
  const params = packet.parameters;
  const user = params.user;
  context.user = user;
  if (!user) throw new StartupRefused('28000', 'the startup packet names no user');
  for (const [key, why] of Object.entries(REFUSED_PARAMETERS)) if (key in params) throw new StartupRefused('08P01', why);
  reader.typed();

  reader.socket.write(authenticationCleartextPassword());
  const pw = await reader.next();
  if (pw[0] !== 0x70) throw new ProtocolError(`expected a password message, got '${String.fromCharCode(pw[0]!)}'`);
  const token = parsePassword(pw);
  if (!token) throw new StartupRefused('28P01', 'a JWT is required as the password');
  let identity: Identity;
  try {
    identity = await opts.verifyToken(token);
  } catch (err) {
    const e = err as { sqlstate?: string; clientMessage?: string; detail?: string; message?: string };
    opts.log.info('authentication failed', { user, detail: e.detail ?? e.message });
    throw new StartupRefused(e.sqlstate ?? '28P01', e.clientMessage ?? 'authentication failed', e.detail ?? e.message);
  }
  context.identity = identity;

  const session: SessionInfo = {
    id: randomUUID(),
    client_address: reader.socket.remoteAddress ?? '',
    application_name: params.application_name ?? '',
    database: opts.database ?? params.database ?? user,
    target: opts.target,
    environment: opts.environment,
  };
  context.session = session;
  const grants = opts.activeGrants ? await opts.activeGrants(identity.subject) : [];
  const connect = opts.engine.decideConnect({ identity, session, time: timeInfo(), grants });
  if (!connect.allow || !connect.upstream_role) {
    opts.log.info('connection denied', { session: session.id, subject: identity.subject, reasons: connect.deny });
    throw new StartupRefused('28000', `connection denied: ${connect.deny.join('; ') || 'not allowed by policy'}`);
  }
  const role = connect.upstream_role;
  if (!opts.upstream.hasCredential(role)) {
    throw new StartupRefused('28000', `connection denied: no upstream credential is configured for role ${role}`);
  }
  session.upstream_role = role;
  session.read_only = connect.read_only;
  const grant = grants.find((g) => g.role === role);
  if (grant) session.grant = grant;

  const passed: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) if (PASSED_PARAMETERS.has(k.toLowerCase())) passed[k] = v;
  let upstream: UpstreamHandle;
  try {
    upstream = await opts.upstream.connect(role, session.database, passed);
  } catch (err) {
    const e = err as { sqlstate?: string; message?: string };
    opts.log.warn('upstream connection failed', { session: session.id, role, error: e.message });
    // The database's own refusal (no such database, too many connections) is the agent's to know;
    // credentials and addresses are not.
    const known = e.sqlstate && ['3D000', '53300', '57P03'].includes(e.sqlstate);
    throw new StartupRefused(known ? e.sqlstate! : '08006', known ? e.message! : 'the upstream database is unavailable');
  }

  const gatewayKey = { processId: randomInt(1, 2 ** 31 - 1), secretKey: randomInt(-(2 ** 31), 2 ** 31 - 1) };
  const out = [authenticationOk()];
  for (const [k, v] of upstream.parameters) out.push(parameterStatus(k, v));
  out.push(backendKeyData(gatewayKey.processId, gatewayKey.secretKey), readyForQuery('I'));
  reader.socket.write(Buffer.concat(out));
  const clientBytes = reader.remaining();
  reader.detach();
  opts.log.info('session started', {
    session: session.id,
    subject: identity.subject,
    kind: identity.kind,
    role,
    database: session.database,
    tls,
  });
  return { client: reader.socket, upstream, identity, session, connect, gatewayKey, clientBytes, tls };
}
