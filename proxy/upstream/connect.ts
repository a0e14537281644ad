// Opens the upstream PostgreSQL session for one agent session, with the credential of the
// upstream role the policy picked: TCP, optional TLS, StartupMessage, authentication, up to
// the first ReadyForQuery. Then it hands the socket over, untouched, for the byte relay.
// Runs once per session (and once per cancel): nothing here is on the relay's hot path.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { serialize } from 'pg-protocol';
import type {
  AuthenticationMD5Password,
  BackendKeyDataMessage,
  DatabaseError,
  ParameterStatusMessage,
} from 'pg-protocol/dist/messages.js';
import { md5PasswordResponse, ScramExchange, UNSUPPORTED_AUTH, type UpstreamAuthMethod } from './auth.js';
import { UpstreamError } from './errors.js';
import { decodeFrame, SocketReader, sanitizeStartupParams, serializeStartupMessage, type Frame } from './messages.js';

export { UpstreamError, type UpstreamErrorCode } from './errors.js';
export type { UpstreamAuthMethod } from './auth.js';
export { sanitizeStartupParams, serializeStartupMessage, isGatewayOwnedStartupKey } from './messages.js';

export type UpstreamTlsMode = 'disable' | 'prefer' | 'require' | 'verify-full';

export interface UpstreamTarget {
  host: string;
  port: number;
  database: string;
  tls: {
    /**
     * disable: plaintext. prefer: TLS if the server accepts it, unverified, else plaintext.
     * require: TLS or fail, unverified (encryption only). verify-full: TLS or fail, the
     * certificate must chain to ca_file (or the system CAs) and name `servername ?? host`.
     */
    mode: UpstreamTlsMode;
    /** PEM CA bundle for verify-full (default: Node's built-in CAs). Ignored by other modes. */
    ca_file?: string;
    /** Name the certificate must carry (verify-full), also sent as SNI when it is not an IP. Default: host. */
    servername?: string;
  };
  /** Limit for each phase: TCP connect, TLS negotiation, startup/authentication; and for a cancel. Default 10000. */
  connect_timeout_ms?: number;
  /**
   * SCRAM channel binding (tls-server-end-point), like libpq's channel_binding.
   * prefer (default): SCRAM-SHA-256-PLUS whenever the connection is TLS and the server offers it.
   * require: fail unless authentication was SCRAM-SHA-256-PLUS (so also fails on trust,
   * password, md5 and plaintext). disable: never.
   */
  channel_binding?: 'disable' | 'prefer' | 'require';
}

export interface RoleCredential {
  user: string;
  /** null: the role has no password (trust/peer upstream); if the server asks for one, auth_failed. */
  password: string | null;
}

export interface UpstreamTlsInfo {
  protocol: string | null;
  cipher: string;
  /** The certificate was verified (verify-full always; require/prefer only say whether it happened to verify). */
  authorized: boolean;
}

export interface UpstreamSession {
  /**
   * Ready for relaying: ReadyForQuery was received. The socket is PAUSED and has none of
   * connectUpstream's listeners: attach 'data' and 'error' listeners, then call resume().
   */
  socket: net.Socket | tls.TLSSocket;
  /** Every ParameterStatus received during startup, in order, to replay to the agent. */
  parameters: Map<string, string>;
  /** For CancelRequest (the agent never learns it). processId 0 if the server sent none. */
  backendKey: { processId: number; secretKey: number };
  /** Bytes received after ReadyForQuery (normally empty): relay them first. */
  pending: Buffer;
  /** Raw NoticeResponse messages received during startup, in order. */
  notices: Buffer[];
  /** Transaction status of the first ReadyForQuery ('I' normally). */
  transactionStatus: string;
  /** How the gateway authenticated. */
  authMethod: UpstreamAuthMethod;
  /** null when the connection is plaintext. */
  tls: UpstreamTlsInfo | null;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

function where(target: UpstreamTarget): string {
  return net.isIPv6(target.host) ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

function timeoutOf(target: UpstreamTarget): number {
  const t = target.connect_timeout_ms ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!Number.isFinite(t) || t <= 0) throw new UpstreamError('connect_failed', `invalid connect_timeout_ms ${String(t)}`);
  return t;
}

const noop = (): void => undefined;

/** Destroys a socket for good; a no-op error listener stays so late errors cannot crash the process. */
function discard(socket: net.Socket | undefined): void {
  if (!socket) return;
  socket.on('error', noop);
  socket.destroy();
}

// ---------------------------------------------------------------------------------------------
// Phase 1: TCP

function openTcp(target: UpstreamTarget, ms: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
      reject(new UpstreamError('connect_failed', `invalid upstream port ${String(target.port)}`));
      return;
    }
    const socket = net.connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      cleanup();
      discard(socket);
      reject(new UpstreamError('timeout', `timed out after ${ms} ms connecting to upstream ${where(target)}`));
    }, ms);
    const onError = (err: Error): void => {
      cleanup();
      discard(socket);
      const code = (err as NodeJS.ErrnoException).code;
      reject(new UpstreamError('connect_failed', `cannot connect to upstream ${where(target)}: ${code ?? err.message}`, { cause: err }));
    };
    const onConnect = (): void => {
      cleanup();
      socket.setNoDelay(true);
      resolve(socket);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('connect', onConnect);
    };
    socket.on('error', onError);
    socket.on('connect', onConnect);
  });
}

// ---------------------------------------------------------------------------------------------
// Phase 2: TLS (SSLRequest, then a TLS handshake over the same socket)

async function negotiateTls(raw: net.Socket, target: UpstreamTarget, ms: number): Promise<net.Socket | tls.TLSSocket> {
  const mode = target.tls.mode;
  let ca: Buffer | undefined;
  if (mode === 'verify-full' && target.tls.ca_file) {
    try {
      ca = readFileSync(target.tls.ca_file);
    } catch (e) {
      throw new UpstreamError('tls_failed', `cannot read upstream CA file ${target.tls.ca_file}: ${(e as Error).message}`, { cause: e });
    }
  }

  const reader = new SocketReader(
    raw,
    (cause) =>
      new UpstreamError('tls_failed', `upstream ${where(target)} closed the connection in reply to SSLRequest${cause ? `: ${cause.message}` : ''}`, { cause }),
  );
  const timer = setTimeout(() => reader.fail(new UpstreamError('timeout', `timed out after ${ms} ms waiting for upstream ${where(target)} to answer SSLRequest`)), ms);
  let answer: string;
  let extra: Buffer;
  try {
    raw.write(serialize.requestSsl());
    answer = String.fromCharCode((await reader.bytes(1))[0]!);
  } finally {
    clearTimeout(timer);
    extra = reader.detach();
  }

  if (answer === 'N') {
    if (mode === 'prefer') {
      if (extra.length > 0) throw new UpstreamError('startup_failed', `upstream ${where(target)} sent unexpected data after refusing TLS`);
      return raw;
    }
    throw new UpstreamError('tls_failed', `upstream ${where(target)} does not accept TLS (answered N to SSLRequest) but tls.mode is ${mode}`);
  }
  if (answer === 'E') {
    throw new UpstreamError('tls_failed', `upstream ${where(target)} answered SSLRequest with an error (a server without SSLRequest support?)`);
  }
  if (answer !== 'S') {
    throw new UpstreamError('startup_failed', `upstream ${where(target)} answered SSLRequest with byte 0x${answer.charCodeAt(0).toString(16)}: not a PostgreSQL server?`);
  }
  // Bytes after 'S' but before the handshake would be processed as if they came over TLS by a
  // naive client: a man in the middle's injection (CVE-2021-23222). Refuse.
  if (extra.length > 0) {
    throw new UpstreamError('tls_failed', `upstream ${where(target)} sent unencrypted data after accepting TLS (possible man-in-the-middle)`);
  }

  const name = target.tls.servername ?? target.host;
  const opts: tls.ConnectionOptions = {
    socket: raw,
    ALPNProtocols: ['postgresql'],
    minVersion: 'TLSv1.2',
    rejectUnauthorized: mode === 'verify-full',
  };
  // SNI must not be an IP address (RFC 6066; Node warns).
  if (!net.isIP(name)) opts.servername = name;
  if (mode === 'verify-full') {
    if (ca) opts.ca = ca;
    // Explicit: over an existing socket Node would otherwise check `servername || 'localhost'`,
    // i.e. 'localhost' for an IP target.
    opts.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(name, cert);
  }

  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const secure = tls.connect(opts);
    const timer = setTimeout(() => {
      cleanup();
      discard(secure);
      reject(new UpstreamError('timeout', `timed out after ${ms} ms in the TLS handshake with upstream ${where(target)}`));
    }, ms);
    const onError = (err: Error): void => {
      cleanup();
      discard(secure);
      const code = (err as NodeJS.ErrnoException).code;
      reject(new UpstreamError('tls_failed', `TLS with upstream ${where(target)} failed (${mode}): ${err.message}${code ? ` [${code}]` : ''}`, { cause: err }));
    };
    const onClose = (): void => onError(new Error('connection closed during the TLS handshake'));
    const onSecure = (): void => {
      cleanup();
      resolve(secure);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      secure.off('error', onError);
      secure.off('close', onClose);
      secure.off('secureConnect', onSecure);
    };
    secure.on('error', onError);
    secure.on('close', onClose);
    secure.on('secureConnect', onSecure);
  });
}

async function transport(target: UpstreamTarget, ms: number): Promise<{ raw: net.Socket; socket: net.Socket | tls.TLSSocket }> {
  const mode = target.tls?.mode;
  if (mode !== 'disable' && mode !== 'prefer' && mode !== 'require' && mode !== 'verify-full') {
    throw new UpstreamError('tls_failed', `invalid upstream tls.mode ${JSON.stringify(mode)}`);
  }
  const raw = await openTcp(target, ms);
  // Guard for the whole setup: a socket error between phases must not become an uncaught exception.
  raw.on('error', noop);
  try {
    const socket = mode === 'disable' ? raw : await negotiateTls(raw, target, ms);
    return { raw, socket };
  } catch (e) {
    discard(raw);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 3: startup and authentication

/**
 * Opens an upstream session as `cred.user` on `target.database`. `startup`: the agent's other
 * StartupMessage parameters (application_name, client_encoding, DateStyle, options, ...),
 * forwarded as they are; user, database, replication and _pq_.* are never taken from it.
 */
export async function connectUpstream(target: UpstreamTarget, cred: RoleCredential, startup: Record<string, string>): Promise<UpstreamSession> {
  const ms = timeoutOf(target);
  if (!cred.user) throw new UpstreamError('auth_failed', 'no upstream role given');
  if (!target.database) throw new UpstreamError('startup_failed', 'no upstream database given');
  const message = serializeStartupMessage({ user: cred.user, database: target.database, ...sanitizeStartupParams(startup).params });

  const { raw, socket } = await transport(target, ms);
  const secure = socket instanceof tls.TLSSocket ? socket : undefined;
  if (secure) secure.on('error', noop);
  const role = `role "${cred.user}"`;
  const at = `upstream ${where(target)} database "${target.database}"`;

  const reader = new SocketReader(socket, (cause) => {
    const why = cause ? `: ${cause.message}` : '';
    return new UpstreamError('startup_failed', `${at} closed the connection during startup as ${role}${why}`, { cause });
  });
  const timer = setTimeout(() => {
    reader.fail(new UpstreamError('timeout', `timed out after ${ms} ms in startup/authentication as ${role} at ${at}`));
    socket.destroy();
  }, ms);

  let authOk = false;
  let method: UpstreamAuthMethod = 'trust';
  let scram: ScramExchange | undefined;
  const parameters = new Map<string, string>();
  const notices: Buffer[] = [];
  let backendKey = { processId: 0, secretKey: 0 };
  const bindingPolicy = target.channel_binding ?? 'prefer';

  const password = (kind: string): string => {
    if (cred.password === null || cred.password === '') {
      throw new UpstreamError('auth_failed', `${at} asks for ${kind} authentication for ${role}, but no password is configured for that role`);
    }
    return cred.password;
  };
  const authFailed = (msg: string, cause?: unknown): UpstreamError =>
    new UpstreamError('auth_failed', `authentication as ${role} at ${at} failed: ${msg}`, { cause });
  const badMessage = (code: number): UpstreamError =>
    new UpstreamError(
      'startup_failed',
      `unexpected message (byte 0x${code.toString(16)}) from ${at} during ${authOk ? 'startup' : 'authentication'}: not a PostgreSQL server, or a protocol error`,
    );

  try {
    socket.write(message);
    for (;;) {
      const frame: Frame = await reader.frame(authOk ? 'SKNEZv' : 'RNEv', badMessage);
      switch (frame.code) {
        case 'R': {
          if (frame.body.length < 4) throw badMessage(0x52);
          const kind = frame.body.readInt32BE(0);
          switch (kind) {
            case 0: // AuthenticationOk
              if (scram && !scram.done) throw authFailed('server accepted SCRAM without proving it knows the password (no SASLFinal)');
              if (bindingPolicy === 'require' && method !== 'scram-sha-256-plus') {
                throw authFailed(`channel_binding is require but the server authenticated with ${method}`);
              }
              authOk = true;
              break;
            case 3: // AuthenticationCleartextPassword
              socket.write(serialize.password(password('cleartext password')));
              method = 'password';
              break;
            case 5: {
              // AuthenticationMD5Password
              const { salt } = decodeFrame(frame) as AuthenticationMD5Password;
              socket.write(serialize.password(md5PasswordResponse(cred.user, password('md5'), salt)));
              method = 'md5';
              break;
            }
            case 10: {
              // AuthenticationSASL
              password('SCRAM'); // fail before starting an exchange we cannot finish
              const { mechanisms } = decodeFrame(frame) as unknown as { mechanisms: string[] };
              if (scram) throw badMessage(0x52);
              try {
                scram = new ScramExchange(mechanisms, bindingPolicy !== 'disable' ? secure : undefined);
              } catch (e) {
                throw new UpstreamError('auth_unsupported', `${at} offers SASL mechanisms [${mechanisms.join(', ')}]: ${(e as Error).message}`, { cause: e });
              }
              method = scram.mechanism === 'SCRAM-SHA-256-PLUS' ? 'scram-sha-256-plus' : 'scram-sha-256';
              socket.write(serialize.sendSASLInitialResponseMessage(scram.mechanism, scram.initialResponse()));
              break;
            }
            case 11: {
              // AuthenticationSASLContinue
              if (!scram) throw badMessage(0x52);
              const { data } = decodeFrame(frame) as unknown as { data: string };
              let final: string;
              try {
                final = await scram.continue(password('SCRAM'), data);
              } catch (e) {
                throw authFailed((e as Error).message, e);
              }
              socket.write(serialize.sendSCRAMClientFinalMessage(final));
              break;
            }
            case 12: {
              // AuthenticationSASLFinal
              if (!scram) throw badMessage(0x52);
              const { data } = decodeFrame(frame) as unknown as { data: string };
              try {
                scram.finish(data);
              } catch (e) {
                throw authFailed((e as Error).message, e);
              }
              break;
            }
            default: {
              const name = UNSUPPORTED_AUTH[kind] ?? `request type ${kind}`;
              throw new UpstreamError('auth_unsupported', `${at} asks for ${name} authentication for ${role}; the gateway supports trust, password, md5 and SCRAM-SHA-256`);
            }
          }
          break;
        }
        case 'E': {
          const err = decodeFrame(frame) as DatabaseError;
          const sqlstate = err.code;
          const code = !authOk && (sqlstate === '28P01' || sqlstate === '28000') ? 'auth_failed' : 'startup_failed';
          const fields: ConstructorParameters<typeof UpstreamError>[2] = { serverMessage: err.message };
          if (sqlstate) fields.sqlstate = sqlstate;
          if (err.severity) fields.severity = err.severity;
          if (err.detail) fields.detail = err.detail;
          if (err.hint) fields.hint = err.hint;
          throw new UpstreamError(code, `${at} refused ${role}: ${err.message}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ''}`, fields);
        }
        case 'N':
          notices.push(Buffer.from(frame.raw));
          break;
        case 'v':
          // NegotiateProtocolVersion: we ask for 3.0 and send no _pq_ options, so a server only
          // sends this if it is newer and wants to say so; the session continues at 3.0.
          break;
        case 'S': {
          const p = decodeFrame(frame) as ParameterStatusMessage;
          parameters.set(p.parameterName, p.parameterValue);
          break;
        }
        case 'K': {
          const k = decodeFrame(frame) as BackendKeyDataMessage;
          backendKey = { processId: k.processID, secretKey: k.secretKey };
          break;
        }
        case 'Z': {
          const transactionStatus = frame.body.length >= 1 ? String.fromCharCode(frame.body[0]!) : 'I';
          clearTimeout(timer);
          const pending = reader.detach();
          raw.off('error', noop);
          secure?.off('error', noop);
          let tlsInfo: UpstreamTlsInfo | null = null;
          if (secure) tlsInfo = { protocol: secure.getProtocol(), cipher: secure.getCipher().name, authorized: secure.authorized };
          return { socket, parameters, backendKey, pending, notices, transactionStatus, authMethod: method, tls: tlsInfo };
        }
        default:
          throw badMessage(frame.code.charCodeAt(0));
      }
    }
  } catch (e) {
    clearTimeout(timer);
    reader.detach();
    discard(secure);
    discard(raw);
    if (e instanceof UpstreamError) throw e;
    throw new UpstreamError('startup_failed', `startup as ${role} at ${at} failed: ${(e as Error).message}`, { cause: e });
  }
}

// ---------------------------------------------------------------------------------------------
// Cancel

/**
 * Sends a CancelRequest for the given backend on a new connection to the target (TLS as the
 * target's mode says; PostgreSQL accepts a CancelRequest after SSLRequest), then waits for the
 * server to close that connection. Resolves once the request was delivered: whether anything
 * was running to cancel, the server never says.
 */
export async function cancelUpstream(target: UpstreamTarget, key: { processId: number; secretKey: number }): Promise<void> {
  const ms = timeoutOf(target);
  if (!key.processId) throw new UpstreamError('startup_failed', 'cannot cancel: the upstream sent no backend key');
  const packet = serialize.cancel(key.processId, key.secretKey);
  const { raw, socket } = await transport(target, ms);
  try {
    await new Promise<void>((resolve, reject) => {
      let written = false;
      const timer = setTimeout(() => {
        cleanup();
        reject(new UpstreamError('timeout', `timed out after ${ms} ms delivering a CancelRequest to upstream ${where(target)}`));
      }, ms);
      const done = (): void => {
        cleanup();
        resolve();
      };
      const onError = (err: Error): void => {
        // Once the request is out, a reset is just the server closing: done.
        if (written) return done();
        cleanup();
        reject(new UpstreamError('connect_failed', `cannot send CancelRequest to upstream ${where(target)}: ${err.message}`, { cause: err }));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('end', done);
        socket.off('close', done);
        socket.off('error', onError);
        socket.off('data', noop);
      };
      socket.on('end', done);
      socket.on('close', done);
      socket.on('error', onError);
      socket.on('data', noop); // the server sends nothing; keep the stream flowing so 'end' fires
      socket.resume();
      socket.write(packet, (err) => {
        if (err) onError(err);
        else written = true;
      });
    });
  } finally {
    discard(socket instanceof tls.TLSSocket ? socket : undefined);
    discard(raw);
  }
}
