// Why a connection's token was refused, in two voices: `clientMessage` is what the agent sees
// in the ErrorResponse (clear, never leaky), `detail` is for the gateway's log and record
// (never sent). Neither ever contains the token itself.
//
// SQLSTATE mapping (docs/identity.md):
//   28000 invalid_authorization_specification: the password is not a credential we can even
//         consider: missing, not a JWT, too long, no or untrusted issuer, or the issuer's keys
//         are unavailable to the gateway right now.
//   28P01 invalid_password: a JWT from a trusted issuer that failed verification: signature,
//         algorithm, expiry, not-before, audience, required claims, claim shapes.

/** Machine-readable reason, stable for records and metrics. */
export type AuthFailureReason =
  | 'missing_token'
  | 'not_a_jwt'
  | 'token_too_long'
  | 'missing_issuer'
  | 'untrusted_issuer'
  | 'keys_unavailable'
  | 'algorithm_not_accepted'
  | 'signature_invalid'
  | 'unknown_key'
  | 'expired'
  | 'too_old'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'audience_not_accepted'
  | 'issuer_mismatch'
  | 'missing_expiry'
  | 'missing_subject'
  | 'malformed_claim'
  | 'malformed_token'
  | 'verification_failed';

export type AuthSqlState = '28P01' | '28000';

const SQLSTATE: Record<AuthFailureReason, AuthSqlState> = {
  missing_token: '28000',
  not_a_jwt: '28000',
  token_too_long: '28000',
  missing_issuer: '28000',
  untrusted_issuer: '28000',
  keys_unavailable: '28000',
  algorithm_not_accepted: '28P01',
  signature_invalid: '28P01',
  unknown_key: '28P01',
  expired: '28P01',
  too_old: '28P01',
  not_yet_valid: '28P01',
  issued_in_future: '28P01',
  audience_not_accepted: '28P01',
  issuer_mismatch: '28P01',
  missing_expiry: '28P01',
  missing_subject: '28P01',
  malformed_claim: '28P01',
  malformed_token: '28P01',
  verification_failed: '28P01',
};

/** The one message per reason the client may see (malformed_claim names the claim). */
const CLIENT_MESSAGE: Record<AuthFailureReason, string> = {
  missing_token: 'a JWT is required as the password',
  not_a_jwt: 'a JWT is required as the password',
  token_too_long: 'invalid token: too long',
  missing_issuer: 'invalid token: no issuer (iss) claim',
  untrusted_issuer: 'token issuer is not trusted',
  keys_unavailable: 'token could not be verified: the issuer\'s keys are unavailable',
  algorithm_not_accepted: 'invalid token: algorithm not accepted',
  signature_invalid: 'invalid token: signature verification failed',
  unknown_key: 'invalid token: signing key not recognised',
  expired: 'invalid token: expired',
  too_old: 'invalid token: issued too long ago',
  not_yet_valid: 'invalid token: not yet valid',
  issued_in_future: 'invalid token: issued in the future',
  audience_not_accepted: 'invalid token: audience not accepted',
  issuer_mismatch: 'invalid token: issuer not accepted',
  missing_expiry: 'invalid token: no expiry (exp) claim',
  missing_subject: 'invalid token: no subject claim',
  malformed_claim: 'invalid token: malformed claim',
  malformed_token: 'invalid token: malformed',
  verification_failed: 'invalid token: verification failed',
};

export class AuthError extends Error {
  readonly sqlstate: AuthSqlState;
  readonly clientMessage: string;
  readonly detail: string;
  readonly reason: AuthFailureReason;

  constructor(reason: AuthFailureReason, detail: string, opts: { clientMessage?: string; cause?: unknown } = {}) {
    const clientMessage = opts.clientMessage ?? CLIENT_MESSAGE[reason];
    super(clientMessage, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AuthError';
    this.reason = reason;
    this.sqlstate = SQLSTATE[reason];
    this.clientMessage = clientMessage;
    this.detail = detail;
  }
}

/** An identity configuration the gateway must not start with. */
export class IdentityConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message);
    this.name = 'IdentityConfigError';
  }
}

/** Internal: the issuer's key set could not be read, fetched or parsed. */
export class KeySetUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeySetUnavailable';
  }
}
