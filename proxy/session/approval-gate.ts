// Holds a statement the policy sent for approval, per approvals.mode: `hold` waits for the
// decision (the session sends nothing meanwhile), `retry` refuses at once naming the request
// and releases the statement when the agent sends exactly it again after approval. Either
// way the approval is bound to the statement's hash and released once; the statement is then
// decided again with the approval in the policy input.
import type { ApprovalInfo, Identity, SessionInfo } from '../../policies/contract.js';
import type { ApprovalService, StatementRequest } from '../approvals/types.js';
import { statementHash } from '../approvals/statement-hash.js';
import type { Verdict } from './statement-gate.js';

export interface ApprovalGateOptions {
  service: ApprovalService;
  mode: 'hold' | 'retry';
  gatewayId: string;
  maxWaitSeconds: number;
}

export type ApprovalOutcome =
  | { ok: true; approval: ApprovalInfo; requestId: string }
  | { ok: false; requestId: string | null; code: string; message: string; hint?: string };

export class ApprovalGate {
  constructor(
    private readonly opts: ApprovalGateOptions,
    private readonly identity: Identity,
    private readonly session: SessionInfo,
  ) {}

  async resolve(verdict: Verdict, sql: string, params: (string | null)[] | null, signal: AbortSignal, onRequested?: (id: string) => void): Promise<ApprovalOutcome> {
    const { service } = this.opts;
    const hash = statementHash(sql, params);
    if (this.opts.mode === 'retry') {
      const approved = await service.findApproved(this.identity.subject, hash);
      if (approved) return this.release(approved, hash);
    }
    const request = await service.createStatementRequest({
      requester: { subject: this.identity.subject, issuer: this.identity.issuer, kind: this.identity.kind, groups: this.identity.groups, claims: this.identity.claims },
      gateway_id: this.opts.gatewayId,
      session_id: this.session.id,
      database: this.session.database,
      upstream_role: this.session.upstream_role ?? '',
      sql,
      params,
      facts: verdict.facts.map((f) => ({ kind: f.kind, command_tag: f.command_tag, tables: f.tables, functions: f.functions })),
      reason: verdict.approval.reason,
      approver_groups: verdict.approval.approvers,
      required_approvals: Math.max(1, verdict.approval.count ?? 1),
      ttl_seconds: Math.min(verdict.approval.ttl_seconds || this.opts.maxWaitSeconds, this.opts.maxWaitSeconds),
    });
    onRequested?.(request.id);
    if (this.opts.mode === 'retry') {
      return {
        ok: false,
        requestId: request.id,
        code: '42501',
        message: `auditgate: approval required: request ${request.id} is waiting for ${request.approver_groups.join(' or ')} (${verdict.approval.reason})`,
        hint: 'send exactly the same statement again once the request is approved; it runs once',
      };
    }
    let decided: StatementRequest;
    try {
      decided = (await service.waitForDecision(request.id, signal)) as StatementRequest;
    } catch (err) {
      if (signal.aborted) {
        await service.withdraw(request.id, 'cancelled by the client').catch(() => {});
        return { ok: false, requestId: request.id, code: '57014', message: `canceling statement due to user request (approval request ${request.id} withdrawn)` };
      }
      throw err;
    }
    switch (decided.status) {
      case 'approved':
        return this.release(decided, hash);
      case 'rejected': {
        const r = decided.decisions.find((d) => d.decision === 'reject');
        return { ok: false, requestId: request.id, code: '42501', message: `auditgate: denied: approval request ${request.id} was rejected${r ? ` by ${r.approver.subject}${r.comment ? `: ${r.comment}` : ''}` : ''}` };
      }
      case 'expired':
        return { ok: false, requestId: request.id, code: '42501', message: `auditgate: denied: approval request ${request.id} expired without a decision` };
      default:
        return { ok: false, requestId: request.id, code: '57014', message: `canceling statement: approval request ${request.id} was ${decided.status}` };
    }
  }

  private async release(request: StatementRequest, hash: string): Promise<ApprovalOutcome> {
    if (!(await this.opts.service.claimRelease(request.id, hash, this.opts.gatewayId))) {
      return { ok: false, requestId: request.id, code: '42501', message: `auditgate: denied: approval request ${request.id} was already used or no longer matches the statement` };
    }
    const approvals = request.decisions.filter((d) => d.decision === 'approve');
    const last = approvals.at(-1);
    return {
      ok: true,
      requestId: request.id,
      approval: {
        id: request.id,
        approved_by: last?.approver.subject ?? '',
        approver_groups: [...new Set(approvals.flatMap((d) => d.approver.groups))],
        approved_at: last?.at ?? new Date().toISOString(),
      },
    };
  }
}
