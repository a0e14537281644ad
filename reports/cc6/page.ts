// index.html: the packet read by a non-engineer. One self-contained page (inline CSS and SVG,
// no scripts, no fetches): scope and period, a section per criterion saying what the evidence
// shows, with figures, charts, exceptions and links to the files. Every figure is a <data>
// reference into a query result (figure-refs.ts).
import { barChart, escapeXml, histogram, stackedBarChart, timeSeriesChart } from './charts.js';
import { CRITERIA } from './queries/controls-map.js';
import type { FigureRefs } from './figure-refs.js';
import type { Period } from './period.js';
import type { Selection } from './sample.js';

export interface PageContext {
  org: string | null;
  period: Period;
  generatedAt: string;
  toolVersion: string;
  keyId: string;
  evidenceDbSha256: string;
  selection: Selection;
  refs: FigureRefs;
  /** Every file the packet holds (for the file index), relative paths. */
  files: string[];
}

const e = escapeXml;
const link = (file: string) => `<a href="${e(file)}"><code>${e(file)}</code></a>`;

function exceptionTable(c: PageContext, criterion: string): string {
  const rows = c.refs.rows('exceptions', { criterion });
  if (rows.length === 0) return `<p class="ok">No exceptions found for ${e(criterion)}.</p>`;
  const cell = (i: number, col: string) => c.refs.cell('exceptions', i, col);
  return `<table class="exceptions"><thead><tr><th>Severity</th><th>Check</th><th>Identity</th><th>Reference</th><th>Detail</th><th>When</th></tr></thead><tbody>
${rows.map((i) => `<tr class="${e(String(c.refs.value('exceptions', i, 'severity')))}"><td>${cell(i, 'severity')}</td><td>${cell(i, 'check')}</td><td>${cell(i, 'subject')}</td><td>${cell(i, 'reference')}</td><td>${cell(i, 'detail')}</td><td>${cell(i, 'occurred_at')}</td></tr>`).join('\n')}
</tbody></table>`;
}

function badge(c: PageContext, criterion: string): string {
  const ex = c.refs.countOf('exceptions', { criterion, severity: 'exception' });
  const rv = c.refs.countOf('exceptions', { criterion, severity: 'review' });
  if (ex) return `<span class="badge bad">${c.refs.count('exceptions', { criterion, severity: 'exception' })} exception${ex === 1 ? '' : 's'}</span>`;
  if (rv) return `<span class="badge warn">${c.refs.count('exceptions', { criterion, severity: 'review' })} to review</span>`;
  return `<span class="badge good">no exceptions</span>`;
}

function section(c: PageContext, id: string, body: string): string {
  const crit = CRITERIA.find((x) => x.id === id)!;
  const files = crit.files.length ? `<p class="files">Evidence: ${crit.files.map(link).join(', ')}. Queries: see <a href="controls-map.csv"><code>controls-map.csv</code></a>.</p>` : '';
  const heading = id === 'completeness' ? 'Completeness and accuracy' : e(id);
  return `<section class="criterion" id="${e(id.toLowerCase().replace('.', '-'))}">
<h2>${heading} <small>${e(crit.title)}</small> ${id === 'CC6.4' ? '<span class="badge muted">inherited</span>' : badge(c, id)}</h2>
${body}
${id === 'CC6.4' ? '' : `<h3>Exceptions</h3>\n${exceptionTable(c, id)}`}
${files}
</section>`;
}

const chart = (q: string, svg: string) => `<figure data-q="${e(q)}">${svg}</figure>`;

function numbers(r: FigureRefs, q: string, col: string): number[] {
  const res = r.result(q);
  const i = res.columns.indexOf(col);
  return res.rows.map((row) => Number(row[i] ?? 0));
}

function labels(r: FigureRefs, q: string, col: string): string[] {
  const res = r.result(q);
  const i = res.columns.indexOf(col);
  return res.rows.map((row) => String(row[i] ?? '(none)'));
}

export function renderPage(c: PageContext): string {
  const r = c.refs;
  const m = (name: string, unit?: string) => r.metric(name, unit);
  const v = (name: string) => r.metricValue(name) ?? 0;
  const empty = v('sessions') === 0 && v('statements') === 0 && v('records_landed') === 0;
  const top = Math.min(15, r.result('figures-decisions-by-identity').rows.length);
  const topIds = (col: string) => numbers(r, 'figures-decisions-by-identity', col).slice(0, top);

  const sections = [
    section(c, 'CC6.1', `<p>${m('sessions')} connection attempts reached the gateway in the period: ${m('sessions_admitted')} were admitted after the identity's token was verified (issuer, audience, expiry, signature), ${m('connections_refused')} were refused.
${m('identities_active')} identities (${m('identities_agents')} agents, ${m('identities_humans')} people) ran ${m('statements')} statements through ${m('gateways')} gateway instance(s). Every statement was decided by the policy before it reached the database: ${m('statements_allowed')} allowed, ${m('statements_denied')} denied, ${m('statements_held')} held for approval; ${m('statements_unattributed')} statement records carry no identity.</p>
<p class="note">The gateway opens database sessions with credentials the agents never see. Any login role in <a href="entitlements.csv"><code>entitlements.csv</code></a> other than the gateway's upstream roles is a path around the gateway and should be explained.</p>
${chart('figures-decisions-by-identity', stackedBarChart({ title: `Statements by identity and decision (top ${top})`, categories: labels(r, 'figures-decisions-by-identity', 'subject').slice(0, top), series: [
      { name: 'allowed', values: topIds('allowed'), tone: 'neutral' },
      { name: 'approved', values: topIds('approved'), tone: 'good' },
      { name: 'held', values: topIds('held'), tone: 'warn' },
      { name: 'denied', values: topIds('denied'), tone: 'bad' },
    ] }))}`),
    section(c, 'CC6.2', v('directory_imports') === 0
      ? `<p>No identity directory has been imported into the evidence database (<code>auditgate collect identities</code>), so registration before first use, use after revocation and dormancy cannot be checked against the identity provider. ${m('identities_active')} identities were active; they are listed in <a href="populations/identities.csv"><code>populations/identities.csv</code></a>.</p>`
      : `<p>Against the newest identity directory import: ${m('identities_in_directory')} identities are registered; ${m('identities_not_in_directory')} identities were admitted without being in the directory; ${m('identities_used_after_disable')} were used at or after being disabled; ${m('identities_used_before_registration')} were used before they were registered. ${m('identities_dormant')} active directory identities did not connect during the period (dormant: listed in <a href="populations/identities.csv"><code>populations/identities.csv</code></a> with <code>dormant = true</code>).</p>`),
    section(c, 'CC6.3', `<p>${v('entitlement_snapshots') === 0 ? 'No entitlement snapshot has been collected (<code>auditgate collect entitlements</code>), so standing grants cannot be compared with use. ' : ''}The access matrix has ${m('access_combinations')} identity × object × action combinations used in the period; ${m('access_with_standing_grant')} are covered by a standing grant, ${m('access_used_without_standing_grant')} were used without one, and ${m('grants_unused')} standing grants of the roles in use were not used at all (granted but unused: candidates for removal).</p>
<p>${m('privileged_login_roles')} login roles in the newest entitlement snapshot hold superuser, BYPASSRLS, CREATEROLE or REPLICATION (<a href="entitlements.csv"><code>entitlements.csv</code></a>).
${m('privileged_actions')} privileged statements (DDL, privilege changes, SET ROLE, superuser commands, admin functions) were attempted, ${m('privileged_actions_executed')} executed (<a href="privileged-actions.csv"><code>privileged-actions.csv</code></a>).
${m('approvals')} statements were held for approval: ${m('approvals_granted')} approved, ${m('approvals_rejected')} rejected, ${m('approvals_expired_or_withdrawn')} expired or withdrawn, ${m('approvals_undecided')} undecided; ${m('approvals_executed')} approved statements executed. Median time to decision ${m('approval_seconds_median', 's')}, 90th percentile ${m('approval_seconds_p90', 's')}. Separation-of-duties failures (self-approval, too few approvers, execution without a grant): ${m('approvals_sod_failures')}.</p>
${chart('figures-approval-latency', histogram({ title: 'Time from approval request to decision', buckets: labels(r, 'figures-approval-latency', 'label').map((label, i) => ({ label, count: numbers(r, 'figures-approval-latency', 'approvals')[i]! })), unit: 'approvals' }))}`),
    section(c, 'CC6.4', `<p>Physical access to the database servers, the gateway hosts and the storage holding the records is not in the scope of this evidence: it is inherited from the hosting provider and tested through the provider's SOC 2 report (a complementary subservice organisation control).</p>`),
    section(c, 'CC6.5', `<p>${m('records_landed')} records of the period were landed from ${m('segments_in_period')} signed segments, on ${m('days_with_records')} days; the evidence database holds records spanning ${m('retention_days_on_record', 'days')}. Records are Ed25519-signed, hash-chained segments (see Completeness below) written to a directory the agents cannot write.</p>
<p>Masked values are never persisted: the record has no column for result values, masking is recorded as counts per column, and bound parameters are stored only as a sha256 (${m('statements_with_parameters')} statements had parameters). See <a href="masking-attestation.json"><code>masking-attestation.json</code></a>.</p>`),
    section(c, 'CC6.6', `<p>Of ${m('sessions_admitted')} admitted sessions, ${m('sessions_tls')} used TLS between the client and the gateway and ${m('sessions_plaintext')} did not. ${m('connections_refused')} connections were refused at startup, ${m('authentication_failures')} of them for failed authentication (SQLSTATE 28P01/28000); every refusal is in <a href="denials.csv"><code>denials.csv</code></a>.</p>
${refusedTable(c)}`),
    section(c, 'CC6.7', `<p>The policy bundles in force classify ${m('columns_classified')} columns as sensitive. ${m('values_masked')} values in ${m('columns_masked')} columns were masked for ${m('identities_masked')} identities, in ${m('statements_masked')} statements. ${m('unmasked_sensitive_reads')} executed reads touched a sensitive table with nothing of it masked (expected only for identities cleared to see the values; listed in <a href="masking/unmasked-sensitive-reads.csv"><code>masking/unmasked-sensitive-reads.csv</code></a>). ${m('blocked_exports')} bulk exports (COPY … TO) were refused.</p>
${chart('figures-masked-by-column', barChart({ title: 'Values masked by column', bars: labels(r, 'figures-masked-by-column', 'column_ref').map((label, i) => ({ label, value: numbers(r, 'figures-masked-by-column', 'values_masked')[i]! })), unit: 'values' }))}`),
    section(c, 'CC6.8', `<p>${m('bundles_in_force')} policy bundle(s) decided access during the period, and ${m('gateway_builds')} gateway build(s) loaded a policy in it. ${m('extension_attempts')} attempts to install an extension and ${m('function_creations')} to create a function or procedure were recorded (<a href="privileged-actions.csv"><code>privileged-actions.csv</code></a>).</p>
${bundlesTable(c)}`),
    section(c, 'CC7.2', `<p>${m('statements_denied')} statements were denied and ${m('connections_refused')} connections refused (<a href="denials.csv"><code>denials.csv</code></a>). ${m('off_hours_statements')} statements by ${m('off_hours_identities')} identities ran outside business hours (Monday to Friday, 08:00–18:00 ${e(c.period.timeZone)}).</p>
${chart('figures-activity-by-day', timeSeriesChart({ title: 'Statements per day', days: labels(r, 'figures-activity-by-day', 'day'), stacked: true, series: [
      { name: 'allowed', values: numbers(r, 'figures-activity-by-day', 'allowed'), tone: 'neutral' },
      { name: 'approved', values: numbers(r, 'figures-activity-by-day', 'approved'), tone: 'good' },
      { name: 'held', values: numbers(r, 'figures-activity-by-day', 'held'), tone: 'warn' },
      { name: 'denied', values: numbers(r, 'figures-activity-by-day', 'denied'), tone: 'bad' },
    ] }))}`),
    section(c, 'CC8.1', `<p>${m('ddl_executed')} schema changes (DDL) executed, ${m('ddl_executed_approved')} of them after an approval (<a href="approval-trail.csv"><code>approval-trail.csv</code></a>, <a href="privileged-actions.csv"><code>privileged-actions.csv</code></a>).</p>`),
    section(c, 'completeness', `<p>The record is complete when every sequence number each gateway emitted was landed, every segment verified and every seal names its predecessor. ${m('records_landed')} records of the period were landed; ${m('verification_errors')} verification errors were ever reported by collect runs, ${m('verification_errors_unresolved')} of them for segments never landed since. Per gateway and day: <a href="completeness/records-by-gateway-day.csv"><code>completeness/records-by-gateway-day.csv</code></a> (emitted by sequence range vs landed, and the chain head at day's end).</p>`),
  ];

  const s = c.selection;
  const sample = `<section id="sample"><h2>Sample for testing</h2>
<p>${r.count('sample-draw')} sessions were drawn from the population of ${m('sessions_admitted')} admitted sessions with seed <code>${e(s.seed)}</code> (${e(s.seed_source)}); population digest <code>${e(s.population.sha256)}</code>. ${e(s.method)}. Re-draw: ${e(s.redraw)} The selection is in <a href="samples/selection.json"><code>samples/selection.json</code></a>; each session's transcript is below.</p>
<ol>${s.sampled.map((x) => `<li>${link(x.transcript)} · ${e(x.subject ?? '(no identity)')} · ${e(x.session_id)} on ${e(x.gateway_id)}</li>`).join('\n')}</ol></section>`;

  const title = `SOC 2 CC6 evidence${c.org ? ` — ${c.org}` : ''}: ${c.period.firstDay} to ${c.period.lastDay}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${e(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${e(title)}</h1>
<p>Evidence of logical access controls over AI agents' and people's database access through the auditgate gateway${c.org ? ` at ${e(c.org)}` : ''}, for the period from <time>${e(c.period.from)}</time> to <time>${e(c.period.to)}</time> (days in ${e(c.period.timeZone)}).
Generated <time>${e(c.generatedAt)}</time> by auditgate ${e(c.toolVersion)} from the evidence database with sha256 <code>${e(c.evidenceDbSha256)}</code>; signed by key <code>${e(c.keyId)}</code>. Check it with <a href="VERIFY.md"><code>VERIFY.md</code></a>.</p>
${empty ? '<p class="empty" role="status"><strong>No recorded activity in this period.</strong> The evidence database holds no sessions, statements or records between these dates. That is evidence of no access only if the record is complete: see Completeness.</p>' : ''}
</header>
<nav><h2>Contents</h2><ol>${CRITERIA.map((x) => `<li><a href="#${e(x.id.toLowerCase().replace('.', '-'))}">${e(x.id === 'completeness' ? 'Completeness and accuracy' : x.id)}</a> ${e(x.title)}</li>`).join('')}<li><a href="#sample">Sample for testing</a></li><li><a href="#files">Files</a></li></ol></nav>
<section id="glance"><h2>At a glance</h2><dl class="cards">
<div><dt>Sessions</dt><dd>${m('sessions')}</dd></div>
<div><dt>Statements</dt><dd>${m('statements')}</dd></div>
<div><dt>Denied</dt><dd>${m('statements_denied')}</dd></div>
<div><dt>Held for approval</dt><dd>${m('approvals')}</dd></div>
<div><dt>Values masked</dt><dd>${m('values_masked')}</dd></div>
<div><dt>Exceptions</dt><dd>${r.count('exceptions', { severity: 'exception' })}</dd></div>
<div><dt>To review</dt><dd>${r.count('exceptions', { severity: 'review' })}</dd></div>
</dl></section>
${sections.join('\n')}
${sample}
<section id="files"><h2>Files</h2><p>Every file below is listed with its sha256 in <a href="manifest.json"><code>manifest.json</code></a>, signed in <a href="manifest.intoto.json"><code>manifest.intoto.json</code></a>. Each CSV is the result of the SQL in <code>queries/</code> with the parameters, row count and result hash in its <code>.meta.json</code>; <a href="exceptions.csv"><code>exceptions.csv</code></a> lists every finding.</p>
<ul class="filelist">${c.files.filter((f) => !f.startsWith('queries/') && !f.startsWith('samples/0') && !f.startsWith('samples/1')).map((f) => `<li>${link(f)}</li>`).join('')}</ul></section>
</body>
</html>
`;
}

function refusedTable(c: PageContext): string {
  const q = 'figures-refused-connections';
  const rows = c.refs.rows(q);
  if (!rows.length) return '';
  return `<table><thead><tr><th>SQLSTATE</th><th>Reason</th><th>Connections</th><th>Identities</th><th>Last</th></tr></thead><tbody>
${rows.map((i) => `<tr><td>${c.refs.cell(q, i, 'sqlstate')}</td><td>${c.refs.cell(q, i, 'reason')}</td><td>${c.refs.cell(q, i, 'connections')}</td><td>${c.refs.cell(q, i, 'identities')}</td><td>${c.refs.cell(q, i, 'last_at')}</td></tr>`).join('\n')}
</tbody></table>`;
}

function bundlesTable(c: PageContext): string {
  const q = 'policy-bundles';
  const rows = c.refs.rows(q);
  const b = rows.length
    ? `<table><thead><tr><th>Policy bundle sha256</th><th>Revision</th><th>Statements decided</th><th>First decision</th><th>Last decision</th><th>Gateway builds</th></tr></thead><tbody>
${rows.map((i) => `<tr><td><code>${c.refs.cell(q, i, 'bundle_sha256')}</code></td><td>${c.refs.cell(q, i, 'revision')}</td><td>${c.refs.cell(q, i, 'statements_decided')}</td><td>${c.refs.cell(q, i, 'first_decision')}</td><td>${c.refs.cell(q, i, 'last_decision')}</td><td>${c.refs.cell(q, i, 'gateway_builds')}</td></tr>`).join('\n')}
</tbody></table>`
    : '';
  const g = 'gateway-builds';
  const grows = c.refs.rows(g);
  const gb = grows.length
    ? `<table><thead><tr><th>Gateway</th><th>Version</th><th>Code sha256</th><th>Policy loads</th><th>First load</th><th>Last load</th></tr></thead><tbody>
${grows.map((i) => `<tr><td>${c.refs.cell(g, i, 'gateway_id')}</td><td>${c.refs.cell(g, i, 'version')}</td><td><code>${c.refs.cell(g, i, 'code_sha256')}</code></td><td>${c.refs.cell(g, i, 'policy_loads')}</td><td>${c.refs.cell(g, i, 'first_loaded_at')}</td><td>${c.refs.cell(g, i, 'last_loaded_at')}</td></tr>`).join('\n')}
</tbody></table>`
    : '';
  return b + gb;
}

const CSS = `
:root { color-scheme: light; --ink: #1f2937; --sub: #4b5563; --line: #e5e7eb; --bad: #b42318; --warn: #b54708; --good: #067647; }
body { font: 15px/1.55 system-ui, sans-serif; color: var(--ink); max-width: 980px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 .4em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid var(--line); padding-bottom: .2em; }
h2 small { font-weight: normal; color: var(--sub); font-size: .75em; } h3 { font-size: 1em; margin-bottom: .3em; }
code { font: 12px ui-monospace, monospace; word-break: break-all; } a { color: #0b5394; }
figure { margin: 1em 0; max-width: 760px; } table { border-collapse: collapse; width: 100%; font-size: 13px; margin: .5em 0; }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 4px 6px; vertical-align: top; }
tr.exception td:first-child { color: var(--bad); font-weight: 600; } tr.review td:first-child { color: var(--warn); font-weight: 600; }
.badge { font-size: 12px; font-weight: 600; padding: 2px 8px; border-radius: 10px; vertical-align: middle; }
.badge.bad { background: #fee4e2; color: var(--bad); } .badge.warn { background: #fef0c7; color: var(--warn); }
.badge.good { background: #dcfae6; color: var(--good); } .badge.muted { background: #f2f4f7; color: var(--sub); }
.ok { color: var(--good); } .note { color: var(--sub); } .empty { background: #fef0c7; padding: 12px; border-radius: 6px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; } .cards div { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 110px; }
.cards dt { color: var(--sub); font-size: 13px; } .cards dd { margin: 0; font-size: 1.5em; font-weight: 600; }
.filelist { columns: 2; font-size: 13px; } nav ol { padding-left: 1.2em; }
@media print { body { max-width: none; } a { color: inherit; } }
`;
