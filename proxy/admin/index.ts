// The admin HTTP listener (approvers' page + JSON API) and its client. docs/approvals.md.
export {
  startAdminServer,
  DEFAULT_MAX_MINUTES,
  MAX_COMMENT_CHARS,
  MAX_REASON_CHARS,
  type AccessPolicy,
  type AccessPolicyRule,
  type AdminServer,
  type AdminServerOptions,
  type RequestView,
  type ViewerBlock,
  type ViewerInfo,
} from './server.js';
export { AdminApiError, AdminClient, AdminConnectionError, DEFAULT_ADMIN_URL, type AdminClientOptions, type MeResponse } from './client.js';
export { CONTENT_SECURITY_POLICY } from './http-util.js';
