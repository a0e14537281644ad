// Approvals: the shapes shared by the store (PostgreSQL control database), the service that
// enforces separation of duties, the gateway that holds statements, the admin HTTP API and
// page, the CLI and the recorder. docs/approvals.md describes them for users.
import type { Identity } from '../../policies/contract.js';

export type RequestStatus =
  | 'pending' // waiting for approvers
  | 'approved' // enough approvals: may be released once
  | 'released' // the approved statement ran (exactly once)
  | 'rejected'
  | 'expired' // nobody decided within the TTL (or an approved request was never released in time)
  | 'withdrawn'; // the agent cancelled (CancelRequest, disconnect) before a decision

/** Who asked: the agent's verified identity (provenance claims included). */
export interface Requester {
  subject: string;
  issuer: string;
  kind: Identity['kind'];
  groups: string[];
  claims: Record<string, unknown>;
}

/** A statement held for approval. */
export interface StatementRequest {
  id: string; // uuid
  type: 'statement';
  status: RequestStatus;
  created_at: string; // RFC 3339
  expires_at: string;
  requester: Requester;
  gateway_id: string;
  session_id: string;
  database: string;
  upstream_role: string;
  /** Exactly what will run: the SQL text and the bound parameters (text form; null = SQL NULL). */
  sql: string;
  params: (string | null)[] | null;
  /** sha256 over sql and params (statementHash below): the approval is bound to it. */
  statement_hash: string;
  /** The analyzer's facts (tables with access, kind, ...), for the approver to judge. */
  facts: unknown;
  /** The policy's reason and who may approve. */
  reason: string;
  approver_groups: string[];
  required_approvals: number;
  decisions: Decision[];
  /** Set when released: which gateway ran it, when. */
  released_at: string | null;
  released_by_gateway: string | null;
}

/** A session-level access request: an upstream role for a while. */
export interface AccessRequest {
  id: string;
  type: 'access';
  status: RequestStatus; // 'approved' = granted (until granted_until); 'released' is not used
  created_at: string;
  expires_at: string; // until when approvers may decide
  requester: Requester;
  role: string;
  minutes: number;
  reason: string;
  approver_groups: string[];
  required_approvals: number;
  decisions: Decision[];
  /** When the grant ends (set on approval: decided_at + minutes). */
  granted_until: string | null;
}

export type ApprovalRequest = StatementRequest | AccessRequest;

export interface Decision {
  decision: 'approve' | 'reject';
  approver: Requester;
  comment: string;
  at: string;
}

/** Why a decision was refused (separation of duties and friends): the API answers 403/409 with it. */
export class ApprovalRefused extends Error {
  constructor(
    readonly code: 'self_approval' | 'not_an_approver' | 'already_decided' | 'not_pending' | 'not_found' | 'duplicate_approver',
    message: string,
  ) {
    super(message);
    this.name = 'ApprovalRefused';
  }
}

/** What the service emits (recorded by the gateway, sent by the webhook notifier). */
export type ApprovalEvent =
  | { event: 'requested'; request: ApprovalRequest }
  | { event: 'approved' | 'rejected'; request: ApprovalRequest; decision: Decision } // a single approver's decision
  | { event: 'granted'; request: ApprovalRequest } // enough approvals (status became approved)
  | { event: 'expired' | 'withdrawn'; request: ApprovalRequest }
  | { event: 'released'; request: StatementRequest };

export interface NewStatementRequest {
  requester: Requester;
  gateway_id: string;
  session_id: string;
  database: string;
  upstream_role: string;
  sql: string;
  params: (string | null)[] | null;
  facts: unknown;
  reason: string;
  approver_groups: string[];
  required_approvals: number;
  ttl_seconds: number;
}

export interface NewAccessRequest {
  requester: Requester;
  role: string;
  minutes: number;
  reason: string;
  approver_groups: string[];
  required_approvals: number;
  ttl_seconds: number;
}

/**
 * The approval service every gateway instance and the admin API use. State lives in the
 * control database, so instances share it; `watch` delivers changes made by any instance
 * (LISTEN/NOTIFY), `events` what happened (for recording and webhooks, emitted by the
 * instance that made the change).
 */
export interface ApprovalService {
  createStatementRequest(r: NewStatementRequest): Promise<StatementRequest>;
  createAccessRequest(r: NewAccessRequest): Promise<AccessRequest>;
  get(id: string): Promise<ApprovalRequest | null>;
  list(filter?: { status?: RequestStatus[]; type?: ApprovalRequest['type'] }): Promise<ApprovalRequest[]>;
  /** Separation of duties: not the requester; in one of approver_groups; once per approver. Throws ApprovalRefused. */
  decide(id: string, approver: Requester, decision: 'approve' | 'reject', comment: string): Promise<ApprovalRequest>;
  withdraw(id: string, reason: string): Promise<void>;
  /** Resolves when the request leaves 'pending' (approved, rejected, expired, withdrawn). */
  waitForDecision(id: string, signal?: AbortSignal): Promise<ApprovalRequest>;
  /**
   * Atomically moves an approved statement request to 'released' if its hash matches: true
   * exactly once across all instances; false if already released, not approved, or a
   * different statement.
   */
  claimRelease(id: string, statementHash: string, gatewayId: string): Promise<boolean>;
  /** Retry mode: the approved, unreleased request of this requester for exactly this statement. */
  findApproved(requesterSubject: string, statementHash: string): Promise<StatementRequest | null>;
  /** Roles currently granted to a subject by approved access requests (for the connect policy). */
  activeGrants(subject: string): Promise<{ role: string; until: string; request_id: string }[]>;
  onEvent(listener: (e: ApprovalEvent) => void): () => void;
  close(): Promise<void>;
}
