// Approval events to a webhook (Slack incoming webhooks, or anything taking JSON): POST
// {event, request, text}, where `text` is a one-line summary Slack shows as the message.
// notify() never blocks and never throws: deliveries run in the background, are retried with
// exponential backoff and full jitter up to maxAttempts, and the final failure is logged.
// Deliveries are independent, so a retried event can arrive after a later one; receivers that
// care order by the request's status and decision times, not by arrival.
//
// What leaves the gateway: the request's identifying fields, the SQL, the reason, who asked and
// who decided. Not sent: bound parameter values and the analyzer's facts (values that may be
// sensitive and are not needed to find the request), nor the requester's claims.
import type { Logger } from '../session/logger.js';
import type { ApprovalEvent, ApprovalRequest, Decision } from './types.js';

export interface WebhookOptions {
  url: string;
  /** Per attempt (connect + response). */
  timeoutMs: number;
  maxAttempts: number;
  log: Logger;
  /** First retry delay before jitter (default 500 ms); doubles per attempt up to maxDelayMs (default 30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How long close() waits for deliveries still in flight (default 2000 ms). */
  closeTimeoutMs?: number;
  /** Deliveries in flight (retries included) beyond which new events are dropped and logged (default 1000). */
  maxPending?: number;
  /** Link approvers to the admin page: `${reviewUrl}/${id}` is put into the text (optional). */
  reviewUrl?: string;
}

export interface WebhookNotifier {
  notify(e: ApprovalEvent): void;
  close(): Promise<void>;
}

export interface WebhookPayload {
  event: ApprovalEvent['event'];
  request: Record<string, unknown>;
  decision?: { decision: Decision['decision']; approver: { subject: string; issuer: string }; comment: string; at: string };
  text: string;
}

export function createWebhookNotifier(opts: WebhookOptions): WebhookNotifier {
  const base = opts.baseDelayMs ?? 500;
  const cap = opts.maxDelayMs ?? 30_000;
  const maxAttempts = Math.max(1, Math.floor(opts.maxAttempts));
  const maxPending = opts.maxPending ?? 1_000;
  const inFlight = new Set<Promise<void>>();
  const stop = new AbortController(); // close(): cut backoff waits and requests short
  let closed = false;

  async function deliver(body: string, what: Record<string, unknown>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let failure: string;
      let retryAfterMs: number | undefined;
      let permanent = false;
      try {
        const res = await fetch(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'auditgate-approvals' },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(opts.timeoutMs), stop.signal]),
        });
        await res.arrayBuffer().catch(() => undefined); // drain, so the connection is reused
        if (res.ok) {
          if (attempt > 1) opts.log.info('approvals webhook delivered after retries', { ...what, attempts: attempt });
          return;
        }
        failure = `HTTP ${res.status}`;
        // Client errors will not heal by retrying, except timeouts and rate limits.
        permanent = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
        retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      } catch (err) {
        failure = describeFetchError(err);
      }
      if (stop.signal.aborted) {
        opts.log.warn('approvals webhook not delivered: notifier closed', { ...what, attempts: attempt, error: failure });
        return;
      }
      if (permanent || attempt >= maxAttempts) {
        opts.log.error('approvals webhook delivery failed', { ...what, attempts: attempt, error: failure });
        return;
      }
      const backoff = Math.random() * Math.min(cap, base * 2 ** (attempt - 1)); // full jitter
      const delay = Math.min(cap, Math.max(backoff, retryAfterMs ?? 0));
      opts.log.debug('approvals webhook attempt failed, retrying', { ...what, attempt, error: failure, delay_ms: Math.round(delay) });
      if (!(await sleep(delay, stop.signal))) {
        opts.log.warn('approvals webhook not delivered: notifier closed', { ...what, attempts: attempt, error: failure });
        return;
      }
    }
  }

  return {
    notify(e: ApprovalEvent): void {
      try {
        const what = { event: e.event, id: e.request.id };
        if (closed) {
          opts.log.warn('approvals webhook: event after close, not sent', what);
          return;
        }
        if (inFlight.size >= maxPending) {
          opts.log.error('approvals webhook: too many undelivered events, dropping', { ...what, pending: inFlight.size });
          return;
        }
        const body = JSON.stringify(webhookPayload(e, opts.reviewUrl));
        const p: Promise<void> = deliver(body, what)
          .catch((err: unknown) => opts.log.error('approvals webhook failed', { ...what, error: String(err) }))
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      } catch (err) {
        opts.log.error('approvals webhook: could not send event', { event: e?.event, error: String(err) });
      }
    },

    async close(): Promise<void> {
      closed = true;
      if (inFlight.size === 0) return;
      const all = Promise.allSettled([...inFlight]);
      let t: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((resolve) => {
          t = setTimeout(() => resolve(true), opts.closeTimeoutMs ?? 2_000);
        }),
      ]);
      clearTimeout(t);
      if (timedOut) {
        opts.log.warn('approvals webhook: closing with deliveries still pending', { pending: inFlight.size });
        stop.abort();
        await all;
      }
    },
  };
}

/** The JSON body for an event (exported for tests and for whoever wants to preview it). */
export function webhookPayload(e: ApprovalEvent, reviewUrl?: string): WebhookPayload {
  const payload: WebhookPayload = { event: e.event, request: requestSummary(e.request), text: summaryText(e, reviewUrl) };
  if ('decision' in e) {
    const d = e.decision;
    payload.decision = {
      decision: d.decision,
      approver: { subject: d.approver.subject, issuer: d.approver.issuer },
      comment: d.comment,
      at: d.at,
    };
  }
  return payload;
}

function requestSummary(r: ApprovalRequest): Record<string, unknown> {
  const common = {
    id: r.id,
    type: r.type,
    status: r.status,
    created_at: r.created_at,
    expires_at: r.expires_at,
    requester: { subject: r.requester.subject, issuer: r.requester.issuer, kind: r.requester.kind },
    reason: r.reason,
    approver_groups: r.approver_groups,
    required_approvals: r.required_approvals,
    approvals: r.decisions.filter((d) => d.decision === 'approve').length,
    decisions: r.decisions.map((d) => ({ decision: d.decision, approver: d.approver.subject, comment: d.comment, at: d.at })),
  };
  if (r.type === 'access') return { ...common, role: r.role, minutes: r.minutes, granted_until: r.granted_until };
  return {
    ...common,
    database: r.database,
    upstream_role: r.upstream_role,
    gateway_id: r.gateway_id,
    session_id: r.session_id,
    sql: r.sql,
    param_count: r.params?.length ?? 0,
    statement_hash: r.statement_hash,
    released_at: r.released_at,
    released_by_gateway: r.released_by_gateway,
  };
}

const MAX_SQL_IN_TEXT = 200;

/** One line, Slack mrkdwn: &, < and > escaped; the SQL in backticks, shortened. */
export function summaryText(e: ApprovalEvent, reviewUrl?: string): string {
  const r = e.request;
  const who = esc(r.requester.subject);
  const what =
    r.type === 'statement'
      ? `\`${esc(shorten(oneLine(r.sql).replaceAll('`', "'"), MAX_SQL_IN_TEXT))}\` on ${esc(r.database)}`
      : `role ${esc(r.role)} for ${r.minutes} min`;
  const approvals = r.decisions.filter((d) => d.decision === 'approve').length;
  let head: string;
  switch (e.event) {
    case 'requested':
      head = `:hourglass: ${who} requests approval (${r.required_approvals} from ${esc(r.approver_groups.join(', '))}) for ${what} — ${esc(oneLine(r.reason))}`;
      break;
    case 'approved':
      head = `:white_check_mark: ${esc(e.decision.approver.subject)} approved ${who}'s ${what} (${approvals}/${r.required_approvals})`;
      break;
    case 'rejected':
      head = `:x: ${esc(e.decision.approver.subject)} rejected ${who}'s ${what}${e.decision.comment ? `: ${esc(oneLine(e.decision.comment))}` : ''}`;
      break;
    case 'granted':
      head =
        r.type === 'access'
          ? `:unlock: ${who} granted ${what}${r.granted_until ? ` until ${r.granted_until}` : ''}`
          : `:unlock: ${who}'s ${what} is approved and may run once`;
      break;
    case 'expired':
      head = `:alarm_clock: ${who}'s request expired: ${what}`;
      break;
    case 'withdrawn':
      head = `:leftwards_arrow_with_hook: ${who} withdrew ${what}`;
      break;
    case 'released':
      head = `:arrow_forward: ${who}'s approved ${what} was released by gateway ${esc(e.request.released_by_gateway ?? '?')}`;
      break;
  }
  const link = reviewUrl ? ` <${reviewUrl.replace(/\/+$/, '')}/${encodeURIComponent(r.id)}|review>` : '';
  return `${head} [${r.id}]${link}`;
}

function esc(s: string): string {
  return oneLine(s).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function shorten(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function parseRetryAfter(v: string | null): number | undefined {
  if (!v) return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1_000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function describeFetchError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e.message} (${cause})` : String(e?.message ?? err);
}

/** Resolves true after ms, false at once if the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    t.unref(); // a retry never keeps the process alive by itself
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
