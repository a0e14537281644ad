// What the gateway records about one session, in the record schema's terms. Identity and
// session fields are serialised once per session; a decision's fields once per decision (the
// decision cache hands out the same verdict, or for a statement of the same shape a copy that
// shares its decisions, which is what the fields are cached on).
import { createHash } from 'node:crypto';
import type { Identity, SessionInfo } from '../../policies/contract.js';
import type { Verdict } from '../session/statement-gate.js';
import type { Recorder } from './recorder.js';
import type { RecordInput } from './schema.js';

type SessionFields = Pick<RecordInput, 'session_id' | 'subject' | 'issuer' | 'identity_kind' | 'groups' | 'claims' | 'client_addr' | 'application_name' | 'database' | 'upstream_role'>;
type VerdictFields = Pick<RecordInput, 'fingerprint' | 'statement_kind' | 'command_tag' | 'tables' | 'functions' | 'decision' | 'reasons'>;

const verdictFieldCache = new WeakMap<Verdict['decisions'], VerdictFields>();

export function verdictFields(v: Verdict): VerdictFields {
  let f = verdictFieldCache.get(v.decisions);
  if (!f) {
    const tables = v.facts.flatMap((x) => x.tables.map((t) => ({ schema: t.schema, name: t.name, access: t.access })));
    const functions = [...new Set(v.facts.flatMap((x) => x.functions.map((fn) => (fn.schema ? `${fn.schema}.${fn.name}` : fn.name))))];
    f = {
      fingerprint: v.facts.map((x) => x.fingerprint).join(';') || null,
      statement_kind: v.facts.map((x) => x.kind).join(',') || null,
      command_tag: v.facts.map((x) => x.command_tag).join(',') || null,
      tables: JSON.stringify(tables),
      functions: JSON.stringify(functions),
      decision: v.outcome === 'deny' ? 'deny' : v.outcome === 'approval' ? 'approval_required' : 'allow',
      reasons: JSON.stringify(v.outcome === 'approval' ? [`approval required: ${v.approval.reason}`] : v.deny),
    };
    verdictFieldCache.set(v.decisions, f);
  }
  return f;
}

export interface StatementOutcome {
  rows: number | null;
  durationUs: number;
  sqlstate: string | null;
  masked: { column: string; method: string; reason: string; count: number }[];
  detectorHits: Record<string, number>;
}

export class SessionRecorder {
  private readonly fields: SessionFields;
  private statements = 0;

  constructor(
    private readonly recorder: Recorder,
    identity: Identity,
    session: SessionInfo,
    private readonly bundleSha256: () => string,
    private readonly log: { error(msg: string, f?: object): void },
  ) {
    this.fields = {
      session_id: session.id,
      subject: identity.subject,
      issuer: identity.issuer,
      identity_kind: identity.kind,
      groups: JSON.stringify(identity.groups),
      claims: JSON.stringify(identity.claims),
      client_addr: session.client_address,
      application_name: session.application_name,
      database: session.database,
      upstream_role: session.upstream_role ?? null,
    };
  }

  start(detail: Record<string, unknown>): void {
    this.fireAndLog({ kind: 'session_start', ...this.fields, decision: 'allow', reasons: '[]', bundle_sha256: this.bundleSha256(), detail: JSON.stringify(detail) });
  }

  /**
   * The intent record of a statement about to be forwarded (or refused). Returns its id and,
   * for an allowed statement, the promise the relay waits on before forwarding (strict mode).
   */
  intent(verdict: Verdict, sql: string, protocol: 'simple' | 'extended', params: (string | null)[] | null, approvalId: string | null = null): { id: number; durable: Promise<void> | null } {
    const id = ++this.statements;
    const input: RecordInput = {
      kind: 'statement',
      ...this.fields,
      statement_id: id,
      sql,
      protocol,
      params_sha256: params && params.length ? paramsHash(params) : null,
      ...verdictFields(verdict),
      bundle_sha256: this.bundleSha256(),
      approval_id: approvalId,
    };
    // Released by an approval: the evidence says so (the policy allowed it because of the approval).
    if (approvalId && !verdict.refusal) input.decision = 'approved';
    if (verdict.refusal) {
      this.fireAndLog(input);
      return { id, durable: null };
    }
    return { id, durable: this.recorder.append(input) };
  }

  /** A statement refused before any decision (fast-path call, recorder failure is not recorded). */
  refused(sql: string, reason: string): void {
    const id = ++this.statements;
    this.fireAndLog({ kind: 'statement', ...this.fields, statement_id: id, sql, decision: 'deny', reasons: JSON.stringify([reason]), bundle_sha256: this.bundleSha256() });
  }

  outcome(id: number, o: StatementOutcome): void {
    this.fireAndLog({
      kind: 'statement_end',
      session_id: this.fields.session_id,
      subject: this.fields.subject,
      statement_id: id,
      rows: o.rows,
      duration_us: o.durationUs,
      error_sqlstate: o.sqlstate,
      masked: o.masked.length ? JSON.stringify(o.masked) : null,
      detector_hits: Object.keys(o.detectorHits).length ? JSON.stringify(o.detectorHits) : null,
    });
  }

  end(reason: string, durationUs: number): void {
    this.fireAndLog({ kind: 'session_end', session_id: this.fields.session_id, subject: this.fields.subject, duration_us: durationUs, detail: JSON.stringify({ reason, statements: this.statements }) });
  }

  private fireAndLog(input: RecordInput): void {
    this.recorder.append(input, false).catch((err: Error) => this.log.error('audit record lost', { kind: input.kind, session: input.session_id, error: err.message }));
  }
}

/** Bound values are evidence that they were bound, never what they were: a hash, not the values. */
function paramsHash(params: (string | null)[]): string {
  const h = createHash('sha256');
  for (const p of params) h.update(p === null ? '\u0000N' : `\u0001${p.length}:${p}`);
  return h.digest('hex');
}

/** A connection refused during startup (authentication, policy, TLS, upstream). */
export function refusedConnectionRecord(ctx: { user?: string; tls?: boolean; clientAddress?: string; identity?: Identity; session?: SessionInfo }, sqlstate: string, reason: string, bundleSha256: string): RecordInput {
  const i = ctx.identity;
  return {
    kind: 'session_start',
    session_id: ctx.session?.id ?? null,
    subject: i?.subject ?? null,
    issuer: i?.issuer ?? null,
    identity_kind: i?.kind ?? null,
    groups: i ? JSON.stringify(i.groups) : null,
    claims: i ? JSON.stringify(i.claims) : null,
    client_addr: ctx.clientAddress ?? null,
    application_name: ctx.session?.application_name ?? null,
    database: ctx.session?.database ?? null,
    decision: 'deny',
    reasons: JSON.stringify([reason]),
    error_sqlstate: sqlstate,
    bundle_sha256: bundleSha256,
    detail: JSON.stringify({ user: ctx.user ?? null, tls: ctx.tls ?? false }),
  };
}
