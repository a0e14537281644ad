// The policy contract (docs/policies.md): what the gateway hands each Rego entrypoint and
// what it expects back. The gateway, `auditgate policy eval|test` and the testing helper
// all build inputs and read decisions through these types.
import type { StatementFacts } from '../proxy/analysis/facts.js';

export type IdentityKind = 'agent' | 'human';

export interface Identity {
  subject: string;
  issuer: string;
  groups: string[];
  kind: IdentityKind;
  /** Selected claims: agent provenance (model, repository, ticket) and clearances. */
  claims: Record<string, unknown>;
}

export interface SessionInfo {
  id: string;
  client_address: string;
  application_name: string;
  database: string;
  /** Name of the upstream target in the gateway config. */
  target: string;
  environment: string;
  /** The role the connect decision granted (present for statement decisions). */
  upstream_role?: string;
  read_only?: boolean;
  /** Set when upstream_role came from an approved access request: usable until `until`. */
  grant?: AccessGrant;
}

/** An active grant from an approved access request (`auditgate access request`). */
export interface AccessGrant {
  request_id: string;
  role: string;
  /** RFC 3339, UTC (toISOString shape). */
  until: string;
}

/** Time comes in the input: the wasm target has no time.* builtins. */
export interface TimeInfo {
  /** RFC 3339, UTC. */
  now: string;
  /** 0-23, UTC. */
  hour: number;
  /** "monday".."sunday", UTC. */
  weekday: string;
}

export interface ApprovalInfo {
  id: string;
  approved_by: string;
  approver_groups: string[];
  approved_at: string;
}

export interface ConnectInput {
  identity: Identity;
  session: SessionInfo;
  time: TimeInfo;
  /** Active access grants of this identity (empty without approvals). */
  grants?: AccessGrant[];
}

export interface StatementInput extends ConnectInput {
  statement: StatementFacts;
  approval: ApprovalInfo | null;
}

export interface ConnectDecision {
  allow: boolean;
  upstream_role: string | null;
  deny: string[];
  read_only: boolean;
  max_session_seconds: number;
}

export interface MaskInstruction {
  /** "schema.table.column" */
  column: string;
  method: string;
}

export interface StatementDecision {
  allow: boolean;
  deny: string[];
  /** `count`: distinct approvers needed (N-of-M), 1 when the policy does not say. */
  approval: { required: boolean; approvers: string[]; reason: string; ttl_seconds: number; count?: number };
  mask: MaskInstruction[];
  detectors: string[];
  tags: string[];
  /** False when the decision depends on time or bound parameters and must not be cached. */
  cacheable?: boolean;
  /**
   * True when the decision also holds for statements that differ from this one only in their
   * constants (no rule read the SQL text or a value written in it): the gateway may reuse it for them.
   */
  ignores_literals?: boolean;
}

export type EntrypointName = 'connect' | 'statement';
export const ENTRYPOINTS: Record<EntrypointName, string> = {
  connect: 'auditgate/connect',
  statement: 'auditgate/statement',
};

export function timeInfo(at: Date = new Date()): TimeInfo {
  const weekdays = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
  return { now: at.toISOString(), hour: at.getUTCHours(), weekday: weekdays[at.getUTCDay()]! };
}
