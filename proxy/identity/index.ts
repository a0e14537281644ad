// Agent identity: JWT-as-password verification (verifier.ts) and the development issuer.
export { IdentityVerifier } from './verifier.js';
export {
  DEFAULT_PROVENANCE_CLAIMS,
  MAX_TOKEN_BYTES,
  SUPPORTED_ALGORITHMS,
  resolveIdentityConfig,
  type ClaimMapping,
  type IdentityConfig,
  type IssuerConfig,
} from './config.js';
export { AuthError, IdentityConfigError, type AuthFailureReason, type AuthSqlState } from './errors.js';
export { parseGroups } from './claims.js';
export {
  DEV_ALGORITHM,
  DEV_AUDIENCE_DEFAULT,
  DEV_ISSUER_DEFAULT,
  defaultDevIssuerDir,
  devIssuerConfig,
  ensureDevIssuer,
  issueDevToken,
  type DevIssuer,
  type DevTokenRequest,
} from './dev-issuer.js';
