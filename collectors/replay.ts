// `auditgate replay SESSION_ID`: one session as a readable transcript, from the evidence
// database: who connected, from where, as which role, and then, in recording order, each
// statement with its decision, rows, duration, masked columns and detector hits, approval
// events, and how the session ended. Reports reuse sessionTranscript/formatTranscript for
// the packet's sampled sessions.
import type { DuckDBConnection } from '@duckdb/node-api';
import { toPlain } from './query.js';

export interface TranscriptSession {
  gatewayId: string;
  sessionId: string;
  subject: string | null;
  issuer: string | null;
  identityKind: string | null;
  groups: string[];
  claims: Record<string, unknown>;
  clientAddr: string | null;
  applicationName: string | null;
  database: string | null;
  upstreamRole: string | null;
  connectDecision: string | null;
  connectReasons: string[];
  bundleSha256: string | null;
  startedUs: number | null;
  endedUs: number | null;
  endReason: string | null;
}

export type TranscriptEvent =
  | {
      type: 'statement';
      seq: number;
      tsUs: number;
      statementId: number | null;
      sql: string;
      decision: string;
      reasons: string[];
      approvalId: string | null;
      executed: 'yes' | 'no' | 'unknown';
      rows: number | null;
      durationUs: number | null;
      errorSqlstate: string | null;
      masked: { column: string; count: number | null; method: string | null }[];
      detectors: { detector: string; hits: number | null }[];
    }
  | { type: 'approval'; seq: number; tsUs: number; approvalId: string | null; statementId: number | null; event: string | null; actor: string | null; approvers: string[]; reason: string | null }
  | { type: 'end'; seq: number; tsUs: number; reason: string | null };

export interface Transcript {
  session: TranscriptSession;
  events: TranscriptEvent[];
}

/** Several sessions carry this id (on different gateways): name one with `gatewayId`. */
export class AmbiguousSession extends Error {
  override name = 'AmbiguousSession';
  constructor(
    readonly sessionId: string,
    readonly gateways: string[],
  ) {
    super(`session ${sessionId} was recorded on more than one gateway (${gateways.join(', ')}): name one with --gateway`);
  }
}

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const parse = <T>(text: unknown, fallback: T): T => {
  if (typeof text !== 'string') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
};

async function rows(c: DuckDBConnection, sql: string, params: (string | null)[]): Promise<Record<string, unknown>[]> {
  const r = await c.runAndReadAll(sql, params);
  const names = r.columnNames();
  return r.getRows().map((row) => Object.fromEntries(names.map((n, i) => [n, toPlain(row[i]!)])));
}

/** The session's transcript, or null when the database holds no record of it. */
export async function sessionTranscript(c: DuckDBConnection, sessionId: string, gatewayId?: string): Promise<Transcript | null> {
  const gateways = (await rows(c, `SELECT DISTINCT gateway_id FROM records WHERE session_id = $1 AND ($2::VARCHAR IS NULL OR gateway_id = $2) ORDER BY 1`, [sessionId, gatewayId ?? null])).map((r) => String(r.gateway_id));
  if (gateways.length === 0) return null;
  if (gateways.length > 1) throw new AmbiguousSession(sessionId, gateways);
  const gw = gateways[0]!;

  const start = (await rows(c, `SELECT *, epoch_us(started_at) AS started_us, epoch_us(ended_at) AS ended_us FROM sessions WHERE gateway_id = $1 AND session_id = $2 ORDER BY start_seq LIMIT 1`, [gw, sessionId]))[0];
  // A session whose start record is not landed (yet) still has a transcript: identity from its first record.
  const first = start ?? (await rows(c, `SELECT *, epoch_us(ts) AS started_us, NULL AS ended_us FROM records WHERE gateway_id = $1 AND session_id = $2 ORDER BY seq LIMIT 1`, [gw, sessionId]))[0]!;
  const session: TranscriptSession = {
    gatewayId: gw,
    sessionId,
    subject: str(first.subject),
    issuer: str(first.issuer),
    identityKind: str(first.identity_kind),
    groups: Array.isArray(first.groups) ? (first.groups as string[]) : parse<string[]>(first.groups, []),
    claims: parse<Record<string, unknown>>(first.claims, {}),
    clientAddr: str(first.client_addr),
    applicationName: str(first.application_name),
    database: str(first.database),
    upstreamRole: str(first.upstream_role),
    connectDecision: start ? str(start.connect_decision) : null,
    connectReasons: start ? parse<string[]>(start.connect_reasons, []) : [],
    bundleSha256: str(first.bundle_sha256),
    startedUs: start ? num(start.started_us) : null,
    endedUs: num(first.ended_us),
    endReason: start ? str(start.end_reason) : null,
  };

  const events: TranscriptEvent[] = [];
  for (const s of await rows(c, `SELECT *, epoch_us(ts) AS ts_us FROM statements WHERE gateway_id = $1 AND session_id = $2`, [gw, sessionId])) {
    const masked = parse<unknown>(s.masked, null);
    const maskList: { column: string; count: number | null; method: string | null }[] = Array.isArray(masked)
      ? masked.map((m: { column?: unknown; count?: unknown; method?: unknown }) => ({ column: String(m.column ?? '?'), count: num(m.count), method: str(m.method) }))
      : masked && typeof masked === 'object'
        ? Object.entries(masked).map(([column, count]) => ({ column, count: num(count), method: null }))
        : [];
    const hits = parse<Record<string, unknown> | null>(s.detector_hits, null);
    events.push({
      type: 'statement',
      seq: Number(s.seq),
      tsUs: Number(s.ts_us),
      statementId: num(s.statement_id),
      sql: String(s.sql ?? ''),
      decision: String(s.decision ?? '?'),
      reasons: parse<string[]>(s.reasons, []),
      approvalId: str(s.approval_id),
      executed: s.executed as 'yes' | 'no' | 'unknown',
      rows: num(s.rows),
      durationUs: num(s.duration_us),
      errorSqlstate: str(s.error_sqlstate),
      masked: maskList,
      detectors: hits && typeof hits === 'object' ? Object.entries(hits).map(([detector, n]) => ({ detector, hits: num(n) })) : [],
    });
  }
  for (const a of await rows(c, `SELECT *, epoch_us(ts) AS ts_us FROM approvals WHERE gateway_id = $1 AND session_id = $2`, [gw, sessionId])) {
    events.push({ type: 'approval', seq: Number(a.seq), tsUs: Number(a.ts_us), approvalId: str(a.approval_id), statementId: num(a.statement_id), event: str(a.event), actor: str(a.actor), approvers: Array.isArray(a.approvers) ? (a.approvers as string[]) : [], reason: str(a.reason) });
  }
  for (const e of await rows(c, `SELECT seq, epoch_us(ts) AS ts_us, detail FROM records WHERE gateway_id = $1 AND session_id = $2 AND kind = 'session_end' ORDER BY seq`, [gw, sessionId])) {
    events.push({ type: 'end', seq: Number(e.seq), tsUs: Number(e.ts_us), reason: str(parse<{ reason?: unknown }>(e.detail, {}).reason) });
  }
  events.sort((a, b) => a.seq - b.seq);
  return { session, events };
}

/** "2025-03-03 10:00:02.000123Z": microseconds kept. */
export function formatUs(us: number | null): string {
  if (us === null) return '?';
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(us - ms * 1000).padStart(3, '0')}Z`;
}

const duration = (us: number): string => (us < 1000 ? `${us} µs` : us < 1_000_000 ? `${(us / 1000).toFixed(1)} ms` : `${(us / 1_000_000).toFixed(2)} s`);
const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

const DECISIONS: Record<string, string> = { allow: 'ALLOW', deny: 'DENY', approval_required: 'HELD', approved: 'APPROVED', error: 'ERROR' };

/** The transcript as text: a header, then one entry per event, time first. */
export function formatTranscript(t: Transcript): string {
  const s = t.session;
  const out: string[] = [];
  out.push(`Session ${s.sessionId} (gateway ${s.gatewayId})`);
  out.push(`  identity   ${s.subject ?? '?'}${s.identityKind ? ` (${s.identityKind})` : ''}${s.issuer ? `, issued by ${s.issuer}` : ''}`);
  if (s.groups.length) out.push(`  groups     ${s.groups.join(', ')}`);
  const claims = Object.entries(s.claims).filter(([, v]) => v !== null && v !== '');
  if (claims.length) out.push(`  claims     ${claims.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')}`);
  out.push(`  client     ${s.clientAddr ?? '?'}${s.applicationName ? `, ${s.applicationName}` : ''}`);
  out.push(`  database   ${s.database ?? '?'} as ${s.upstreamRole ?? '?'}`);
  out.push(`  connect    ${s.connectDecision ?? 'not recorded'}${s.connectReasons.length ? `: ${s.connectReasons.join('; ')}` : ''}${s.bundleSha256 ? ` (policy bundle ${s.bundleSha256.slice(0, 12)})` : ''}`);
  const span = s.startedUs !== null && s.endedUs !== null ? `, ${duration(s.endedUs - s.startedUs)}` : '';
  out.push(`  started    ${formatUs(s.startedUs)}${s.endedUs !== null ? `   ended ${formatUs(s.endedUs)}${span}` : '   (no end recorded)'}`);
  out.push('');
  const pad = ' '.repeat(44); // under the SQL: time (27), id, decision
  for (const e of t.events) {
    const when = formatUs(e.tsUs);
    if (e.type === 'statement') {
      const id = e.statementId !== null ? `#${e.statementId}` : '';
      const head = `${when}  ${id.padEnd(5)} ${(DECISIONS[e.decision] ?? e.decision.toUpperCase()).padEnd(8)}`;
      const sql = e.sql.split('\n');
      out.push(`${head} ${sql[0]}`);
      for (const line of sql.slice(1)) out.push(`${pad}${line}`);
      const notes: string[] = [];
      if (e.approvalId) notes.push(e.decision === 'approval_required' ? `approval request ${e.approvalId}` : `released by approval ${e.approvalId}`);
      if (e.decision !== 'allow' && e.decision !== 'approved' && e.reasons.length) notes.push(`${e.decision === 'approval_required' ? 'held' : 'refused'}: ${e.reasons.join('; ')}`);
      if (e.executed === 'yes') {
        const what = e.errorSqlstate ? `failed with SQLSTATE ${e.errorSqlstate}` : e.rows === null ? 'done' : plural(e.rows, 'row');
        notes.push(`${what}${e.durationUs !== null ? `, ${duration(e.durationUs)}` : ''}`);
      } else if (e.executed === 'unknown') notes.push('outcome not recorded (the session or gateway ended before it, or its record is not landed)');
      else notes.push('not executed');
      if (e.masked.length) notes.push(`masked ${e.masked.map((m) => `${m.column}${m.count !== null ? ` ×${m.count}` : ''}${m.method ? ` (${m.method})` : ''}`).join(', ')}`);
      if (e.detectors.length) notes.push(`detectors ${e.detectors.map((d) => `${d.detector}${d.hits !== null ? ` ×${d.hits}` : ''}`).join(', ')}`);
      for (const n of notes) out.push(`${pad}${n}`);
    } else if (e.type === 'approval') {
      const detail = [e.actor ? `by ${e.actor}` : null, e.approvers.length ? `approvers ${e.approvers.join(', ')}` : null, e.reason].filter(Boolean).join('; ');
      out.push(`${when}  ${(e.statementId !== null ? `#${e.statementId}` : '').padEnd(5)} APPROVAL approval ${e.approvalId ?? '?'} ${e.event ?? '?'}${detail ? `: ${detail}` : ''}`);
    } else {
      out.push(`${when}        END      session ended${e.reason ? `: ${e.reason}` : ''}`);
    }
  }
  const statements = t.events.filter((e) => e.type === 'statement');
  out.push('');
  out.push(`${plural(statements.length, 'statement')}: ${statements.filter((e) => e.executed === 'yes').length} executed, ${statements.filter((e) => e.decision !== 'allow' && e.decision !== 'approved').length} refused or held, ${statements.filter((e) => e.executed === 'unknown').length} without a recorded outcome`);
  return `${out.join('\n')}\n`;
}
