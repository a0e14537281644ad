// Errors of the upstream connection. Messages name the upstream (host:port, database, role)
// for the operator's logs and the session record; they never contain a password. What the
// agent is told is the session's decision, not this message.

export type UpstreamErrorCode =
  | 'connect_failed' // TCP connect failed (refused, unreachable, DNS), or the socket broke before startup
  | 'tls_failed' // TLS required but refused ('N'), handshake or certificate verification failed
  | 'auth_failed' // the server rejected the credential (28P01, 28000), no password configured, SCRAM proof mismatch
  | 'auth_unsupported' // the server asked for an authentication method the gateway does not implement (GSS, SSPI, ...)
  | 'startup_failed' // any other ErrorResponse during startup (3D000, 53300, 57P03...), or a protocol violation
  | 'timeout'; // a phase (connect, tls, startup, cancel) took longer than connect_timeout_ms

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  readonly code: UpstreamErrorCode;
  /** SQLSTATE of the server's ErrorResponse, when there was one. */
  readonly sqlstate?: string;
  /** The server's own message text (ErrorResponse field M), when there was one. */
  readonly serverMessage?: string;
  /** ErrorResponse severity (FATAL, ERROR...) and detail/hint, when the server sent them. */
  readonly severity?: string;
  readonly detail?: string;
  readonly hint?: string;

  constructor(
    code: UpstreamErrorCode,
    message: string,
    extra: { sqlstate?: string; serverMessage?: string; severity?: string; detail?: string; hint?: string; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    if (extra.sqlstate !== undefined) this.sqlstate = extra.sqlstate;
    if (extra.serverMessage !== undefined) this.serverMessage = extra.serverMessage;
    if (extra.severity !== undefined) this.severity = extra.severity;
    if (extra.detail !== undefined) this.detail = extra.detail;
    if (extra.hint !== undefined) this.hint = extra.hint;
  }
}
