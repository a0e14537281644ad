// What the demo prints: a short story per step (what the agent tried, what the gateway decided
// and why, values as the agent saw them), then where to look. Pure formatting: every function
// returns text; the runner decides when to print it.
import type { RequestView } from '../proxy/admin/server.js';
import type { DemoIdentity, StepReport } from './agent-session.js';

/** A path or argument as a POSIX shell word (quoted only when it must be). */
export function sh(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Rows as aligned columns, indented. */
export function table(rows: string[][], indent = '       '): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((v, i) => (widths[i] = Math.max(widths[i] ?? 0, v.length)));
  return rows.map((r) => indent + r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  ')).join('\n');
}

export interface Classification {
  /** column name -> class, for a table. */
  classOf(table: string, column: string): string | null;
}

/** Reads the classification from the policy bundle's data (masking.columns, docs/policy-default.md). */
export function classificationFrom(policyData: unknown): Classification {
  const columns = (policyData as { auditgate_config?: { masking?: { columns?: Record<string, Record<string, Record<string, { class?: string }>>> } } })
    ?.auditgate_config?.masking?.columns ?? {};
  return {
    classOf: (t, c) => columns.public?.[t]?.[c]?.class ?? null,
  };
}

const describeIdentity = (who: DemoIdentity): string => {
  const claims = Object.values(who.claims);
  return `${who.subject}${claims.length ? ` (${claims.join(', ')})` : ''}`;
};

export function formatIntro(agent: DemoIdentity): string {
  return [
    '',
    `The agent ${describeIdentity(agent)} connects through the gateway`,
    `with node-postgres, its token from the development issuer (groups ${agent.groups.join(', ')}).`,
    '',
    '',
  ].join('\n');
}

function maskedLine(step: StepReport, table: string, cls: Classification): string {
  const cols = step.maskedColumns.map((c) => {
    const k = cls.classOf(table, c);
    return k ? `${c} (${k})` : c;
  });
  return `   → allowed, masked: ${cols.join(', ')}: classified in the policy, and this identity is cleared for none of it`;
}

/** One example per masked column: the first row's value as stored and as the agent saw it. */
function storedVsSeen(step: StepReport): string[] {
  const shown = new Set<string>();
  const lines: string[] = [];
  for (const m of step.masked) {
    if (shown.has(m.column)) continue;
    shown.add(m.column);
    lines.push(`       ${m.column}: stored ${JSON.stringify(m.stored)}, the agent saw ${JSON.stringify(m.seen)}`);
  }
  return lines;
}

/** `continued`: the step's heading was printed already (formatHeld, while it waited). */
export function formatStep(step: StepReport, cls: Classification, opts: { continued?: boolean } = {}): string {
  const out: string[] = opts.continued
    ? []
    : [`${step.n}. The agent ${step.intent}`, `   ${step.sql}${step.params ? `   (${step.params.map((p, i) => `$${i + 1} = ${JSON.stringify(p)}`).join(', ')})` : ''}`];
  if (step.outcome === 'denied') {
    out.push(`   → denied (SQLSTATE ${step.refusal!.sqlstate}): ${step.refusal!.message}`);
    out.push('     nothing reached the database; the attempt is in the record');
  } else if (step.outcome === 'approved') {
    const a = step.approval!;
    out.push(`   → approved by ${a.approver.subject} (${a.approver.kind}, ${a.approver.groups.join(', ')}) through the admin API: "${a.comment}"`);
    out.push(`   → executed once, as approved: DELETE ${step.rowCount} (the agent waited ${seconds(a.heldMs)})`);
  } else if (step.maskedColumns.length === 0) {
    out.push('   → allowed: nothing it reads is classified, so the agent gets the rows as stored');
    if (step.rows) out.push(table(step.rows));
  } else {
    out.push(maskedLine(step, step.source ?? '', cls));
    out.push('     what the agent got:');
    if (step.rows) out.push(table(step.rows));
    if (step.copyText) out.push(step.copyText.trimEnd().split('\n').map((l) => `       ${l}`).join('\n'));
    out.push('     what is stored (it never left the gateway):');
    out.push(...storedVsSeen(step));
  }
  return `${out.join('\n')}\n`;
}

export function formatHeld(step: { n: number; intent: string; sql: string }, request: RequestView): string {
  return [
    `${step.n}. The agent ${step.intent}`,
    `   ${step.sql}`,
    `   → held: approval request ${request.id.slice(0, 8)} for ${request.approver_groups.join(', ')}${request.type === 'statement' ? ` (the session runs as ${request.upstream_role})` : ''}`,
    `     why: ${request.reason}`,
    '     the agent\'s session waits; nothing has reached the database',
  ].join('\n');
}

export interface WhereToLook {
  packetIndex: string;
  packet: string;
  packetPublicKey: string;
  evidenceDb: string;
  sessionId: string;
  config: string;
  gatewayLog: string;
}

export function formatWhereToLook(w: WhereToLook): string {
  const db = sh(w.evidenceDb);
  return [
    'Where to look',
    `  The evidence packet     ${w.packetIndex}`,
    '                          open it in a browser: scope, each CC6 criterion and its evidence',
    `  Verify it yourself      npx auditgate verify ${sh(w.packet)} --public-key ${sh(w.packetPublicKey)} --db ${db}`,
    `  The evidence database   ${w.evidenceDb} (DuckDB; auditors query it with SQL), for example:`,
    `    npx auditgate query --db ${db} "SELECT statement_id, decision, executed, \\"rows\\", sql FROM statements ORDER BY seq"`,
    `    npx auditgate query --db ${db} "SELECT column_ref, method, values_masked, sql FROM masking_events JOIN statements USING (gateway_id, session_id, statement_id) ORDER BY statement_id"`,
    `  Replay the session      npx auditgate replay ${w.sessionId} --db ${db}`,
    `  The gateway             ${w.config} (its config), ${w.gatewayLog} (its log)`,
  ].join('\n');
}

export function formatKeepRunning(k: { gatewayPort: number; adminUrl: string; database: string; agentToken: string; devIssuerDir: string; approver: DemoIdentity }): string {
  return [
    '',
    'Still running (--keep-running): try it by hand. Ctrl-C stops everything.',
    `  The gateway             127.0.0.1:${k.gatewayPort}, in front of the same embedded shop database`,
    '  As the agent (token valid for an hour):',
    `    PGPASSWORD=${sh(k.agentToken)} psql "host=127.0.0.1 port=${k.gatewayPort} user=agent dbname=${k.database} sslmode=disable"`,
    `  The approvals page      ${k.adminUrl}/  sign in with an approver's token:`,
    `    npx auditgate token --dir ${sh(k.devIssuerDir)} --sub ${k.approver.subject} --kind human --groups ${k.approver.groups.join(',')}`,
    '  (PGlite runs one transaction at a time: leave psql in autocommit, or keep transactions short.)',
    '  What you do now is recorded in the segments; the packet above covers the scripted session.',
    '',
  ].join('\n');
}
