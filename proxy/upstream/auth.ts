// Password authentication to the upstream: cleartext, md5, and SCRAM-SHA-256 (with
// SCRAM-SHA-256-PLUS channel binding over TLS) through node-postgres's own SCRAM code.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { TLSSocket } from 'node:tls';

/** How the gateway authenticated to the upstream (for the session record). */
export type UpstreamAuthMethod = 'trust' | 'password' | 'md5' | 'scram-sha-256' | 'scram-sha-256-plus';

/** Authentication request codes the gateway does not implement, by name (for error messages). */
export const UNSUPPORTED_AUTH: Record<number, string> = {
  2: 'KerberosV5',
  6: 'SCM credentials',
  7: 'GSSAPI',
  8: 'GSSAPI (continue)',
  9: 'SSPI',
};

/** md5 password response: "md5" + md5(md5(password + user) + salt), hex. */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password, 'utf8').update(user, 'utf8').digest('hex');
  return 'md5' + createHash('md5').update(inner, 'utf8').update(salt).digest('hex');
}

// pg's SCRAM implementation (RFC 5802/7677, SASLprep, tls-server-end-point channel binding),
// public as `pg/lib/crypto/sasl` but untyped and CommonJS-only.
interface PgScramSession {
  mechanism: string;
  response: string;
}
interface PgSasl {
  startSession(mechanisms: string[], stream?: TLSSocket, scramMaxIterations?: number): PgScramSession;
  continueSession(session: PgScramSession, password: string, serverData: string, stream?: TLSSocket): Promise<void>;
  finalizeSession(session: PgScramSession, serverData: string): void;
}
let sasl: PgSasl | undefined;
function pgSasl(): PgSasl {
  sasl ??= createRequire(import.meta.url)('pg/lib/crypto/sasl') as PgSasl;
  return sasl;
}

/** One SCRAM exchange. Every method throws an Error with pg's message when the exchange is invalid. */
export class ScramExchange {
  private readonly session: PgScramSession;
  private state: 'initial' | 'continued' | 'final' = 'initial';

  /**
   * @param channelBindingStream the TLS socket when channel binding may be used: pg picks
   *   SCRAM-SHA-256-PLUS when the server offers it (it does over TLS), else SCRAM-SHA-256 with
   *   the "y" flag. Undefined: no channel binding (plain SCRAM-SHA-256, flag "n").
   */
  constructor(
    mechanisms: string[],
    private readonly channelBindingStream: TLSSocket | undefined,
  ) {
    this.session = pgSasl().startSession(mechanisms, channelBindingStream);
  }

  get mechanism(): string {
    return this.session.mechanism;
  }
  get done(): boolean {
    return this.state === 'final';
  }

  /** SASLInitialResponse payload (client-first-message). */
  initialResponse(): string {
    return this.session.response;
  }

  /** Computes the client-final-message (with the proof) from the server-first-message. */
  async continue(password: string, serverFirst: string): Promise<string> {
    if (this.state !== 'initial') throw new Error('SASL: unexpected AuthenticationSASLContinue');
    await pgSasl().continueSession(this.session, password, serverFirst, this.channelBindingStream);
    this.state = 'continued';
    return this.session.response;
  }

  /** Checks the server's signature: proves the server knows the password's verifier. */
  finish(serverFinal: string): void {
    if (this.state !== 'continued') throw new Error('SASL: unexpected AuthenticationSASLFinal');
    pgSasl().finalizeSession(this.session, serverFinal);
    this.state = 'final';
  }
}
