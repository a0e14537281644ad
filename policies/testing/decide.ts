// Decides SQL (or explicit statement facts) the way the gateway does: connect decision first,
// its role and read_only flag into the session, then one statement decision per statement,
// combined with DESIGN.md's precedence. Shared by `auditgate policy eval|test` and
// `auditgate/testing`.
import { analyze, loadAnalyzer } from '../../proxy/analysis/index.js';
import { emptyFacts, type StatementFacts } from '../../proxy/analysis/facts.js';
import type {
  ApprovalInfo,
  ConnectDecision,
  Identity,
  SessionInfo,
  StatementDecision,
  StatementInput,
  TimeInfo,
} from '../contract.js';
import { combineDecisions, type CombinedVerdict } from '../engine/combine.js';
import { statementOutcome, type EngineFailure, type Outcome, type PolicyEngine } from '../engine/engine.js';

export const DEFAULT_SESSION: SessionInfo = {
  id: 'test-session',
  client_address: '127.0.0.1',
  application_name: 'auditgate-policy-test',
  database: 'app',
  target: 'default',
  environment: 'production',
};

/** Monday 2026-01-05 10:00 UTC: inside any ordinary business-hours window. */
export const DEFAULT_TIME: TimeInfo = { now: '2026-01-05T10:00:00Z', hour: 10, weekday: 'monday' };

export interface DecideRequest {
  identity: Identity;
  session?: Partial<SessionInfo> & Record<string, unknown>;
  time?: Partial<TimeInfo>;
  /** SQL text, run through the analyzer; or `statement` facts given directly. */
  sql?: string;
  statement?: Partial<StatementFacts>;
  protocol?: 'simple' | 'extended';
  params?: (string | null)[];
  approval?: ApprovalInfo | null;
}

export interface StatementResult {
  facts: StatementFacts;
  decision: StatementDecision & EngineFailure;
  outcome: Outcome;
}

export interface CombinedDecision extends CombinedVerdict {
  connect: ConnectDecision & EngineFailure;
  statements: StatementResult[];
}

export function buildSession(req: DecideRequest): SessionInfo & Record<string, unknown> {
  return { ...DEFAULT_SESSION, ...req.session };
}

export function buildTime(req: DecideRequest): TimeInfo {
  return { ...DEFAULT_TIME, ...req.time };
}

export function decideConnect(engine: PolicyEngine, req: DecideRequest): ConnectDecision & EngineFailure {
  return engine.decideConnect({ identity: req.identity, session: buildSession(req), time: buildTime(req) });
}

export async function decide(engine: PolicyEngine, req: DecideRequest): Promise<CombinedDecision> {
  const time = buildTime(req);
  const session = buildSession(req);
  const connect = engine.decideConnect({ identity: req.identity, session, time });
  if (connect.allow) {
    session.upstream_role ??= connect.upstream_role ?? undefined;
    session.read_only ??= connect.read_only;
  }
  let facts: StatementFacts[];
  if (req.sql !== undefined) {
    await loadAnalyzer();
    facts = analyze(req.sql, { protocol: req.protocol, params: req.params, prepared: new Map() });
  } else {
    facts = [{ ...emptyFacts(), ...req.statement }];
  }
  const statements = facts.map((f): StatementResult => {
    const input: StatementInput = { identity: req.identity, session, time, statement: f, approval: req.approval ?? null };
    const decision = engine.decideStatement(input);
    return { facts: f, decision, outcome: statementOutcome(decision) };
  });
  return combine(connect, statements);
}

function combine(connect: ConnectDecision & EngineFailure, statements: StatementResult[]): CombinedDecision {
  return { ...combineDecisions(statements.map((s) => s.decision)), connect, statements };
}
