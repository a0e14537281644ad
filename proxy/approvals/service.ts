// The approval service every gateway instance and the admin API use (ApprovalService in
// types.ts). State lives in the control database (store.ts, migrations.ts) so instances share
// it; this module adds the rules:
//
// - Separation of duties, decided inside one transaction with the request row locked (SELECT
//   ... FOR UPDATE): concurrent decisions on one request, from any instance, are serialised.
// - Expiry. A pending request past expires_at becomes 'expired'. An approved statement request
//   must be released within its TTL counted again from the approval: on approval its expires_at
//   moves to approved_at + ttl_seconds (the same ttl_seconds the policy gave for deciding), and
//   past that it becomes 'expired' and can no longer be claimed (claimRelease checks the
//   deadline itself, so a late sweep never lets a stale approval run). Rationale: the agent
//   normally waits on the wire and the gateway releases within milliseconds; the window only
//   matters for retry mode (agent disconnected, retries the same statement later), and an
//   approval should not stay redeemable for longer than the policy wanted a decision to take.
//   An approved access request stays 'approved'; its grant simply ends at granted_until
//   (activeGrants filters on it).
//   Any instance may expire requests: each service runs a sweep timer, and reads (get, decide,
//   withdraw, waitForDecision) expire the request they touch when it is due. The UPDATE that
//   expires a row returns it to exactly one instance, which emits the 'expired' event.
// - waitForDecision wakes on NOTIFY (any instance's change), on the request's deadline, and
//   after the listener reconnects (notifications sent meanwhile are lost); while the listener
//   is down, the sweep polls the waited-for requests instead.
// - Events (onEvent) are emitted only by the instance that made the change, after it committed.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { silentLogger, type Logger } from '../session/logger.js';
import { NotificationListener } from './listener.js';
import { migrate, NOTIFY_CHANNEL } from './migrations.js';
import { statementHash } from './statement-hash.js';
import * as store from './store.js';
import {
  ApprovalRefused,
  type AccessRequest,
  type ApprovalEvent,
  type ApprovalRequest,
  type ApprovalService,
  type NewAccessRequest,
  type NewStatementRequest,
  type Requester,
  type StatementRequest,
} from './types.js';

export interface ApprovalServiceOptions {
  /** postgres:// URL of the control database. */
  url: string;
  /** This gateway instance (listener application_name, logs). */
  gatewayId: string;
  log?: Logger;
  /** How often this instance looks for due requests (default 1000 ms). */
  sweepIntervalMs?: number;
  /** How often the listener connection is probed for a silent dead peer (default 15 s). */
  listenerCheckIntervalMs?: number;
  /** Pool size for the control database (default 5). */
  poolMax?: number;
}

interface Waiter {
  check(): void;
  fail(err: Error): void;
}

/** A transaction's result: refusals are returned, not thrown, so that an expiry found on the way still commits. */
type Outcome<T> = { ok: T; expired?: string[] } | { refused: ApprovalRefused; expired?: string[] };

export async function createApprovalService(opts: ApprovalServiceOptions): Promise<ApprovalService> {
  const log = opts.log ?? silentLogger;
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax ?? 5,
    application_name: `auditgate-approvals:${opts.gatewayId}`.slice(0, 63),
  });
  pool.on('error', (err) => log.warn('approvals: idle control database connection failed', { error: err.message }));

  const listeners = new Set<(e: ApprovalEvent) => void>();
  const waiters = new Map<string, Set<Waiter>>();
  let closed = false;

  const emit = (e: ApprovalEvent): void => {
    for (const l of listeners) {
      try {
        l(e);
      } catch (err) {
        log.error('approvals: event listener threw', { event: e.event, id: e.request.id, error: (err as Error).message });
      }
    }
  };
  const wake = (id: string): void => {
    for (const w of waiters.get(id) ?? []) w.check();
  };
  const wakeAll = (): void => {
    for (const set of waiters.values()) for (const w of set) w.check();
  };

  /**
   * A pooled client for `fn`. A checked-out client has no 'error' listener (pg-pool removes its
   * own on checkout): without this one, the connection dying meanwhile would be an uncaught
   * exception. A client that failed is released as broken, so the pool drops it.
   */
  async function withClient<T>(fn: (c: pg.PoolClient, fail: (err: Error) => void) => Promise<T>): Promise<T> {
    const c = await pool.connect();
    let broken: Error | undefined;
    const fail = (err: Error): void => {
      broken = err;
    };
    c.on('error', fail);
    try {
      return await fn(c, fail);
    } finally {
      c.removeListener('error', fail);
      c.release(broken);
    }
  }

  async function tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return withClient(async (c, fail) => {
      try {
        // Explicitly READ COMMITTED: a server or role default of REPEATABLE READ/SERIALIZABLE
        // would turn the row-lock waits below into serialization failures.
        await c.query('BEGIN ISOLATION LEVEL READ COMMITTED');
        const out = await fn(c);
        await c.query('COMMIT');
        return out;
      } catch (err) {
        await c.query('ROLLBACK').catch(fail);
        throw err;
      }
    });
  }

  /** 'expired' events for what this instance just expired (it alone saw those rows change). */
  async function emitExpired(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    for (const r of await store.getRequests(pool, ids)) {
      emit({ event: 'expired', request: r });
      wake(r.id);
    }
  }

  /** The check on read: expires this request if it is due (by the database clock), then returns it. */
  async function read(id: string): Promise<ApprovalRequest | null> {
    const got = await store.getRequestDue(pool, id);
    if (!got?.due) return got?.request ?? null;
    await emitExpired(await store.expireDue(pool, id));
    return store.getRequest(pool, id);
  }

  let sweeping: Promise<void> | null = null;
  let lastListenerCheck = Date.now();
  const listenerCheckMs = opts.listenerCheckIntervalMs ?? 15_000;
  function sweep(): Promise<void> {
    sweeping ??= (async () => {
      try {
        for (;;) {
          const ids = await store.expireDue(pool);
          await emitExpired(ids);
          if (ids.length < 500 || closed) break;
        }
        // Notifications are not arriving: poll what we wait for.
        if (!listener.connected) wakeAll();
        else if (Date.now() - lastListenerCheck >= listenerCheckMs) {
          lastListenerCheck = Date.now();
          void listener.healthCheck(5_000);
        }
      } catch (err) {
        if (!closed) log.warn('approvals: expiry sweep failed', { error: (err as Error).message });
      } finally {
        sweeping = null;
      }
    })();
    return sweeping;
  }

  // Start: schema first (serialised across instances), then the listener, then the sweep.
  try {
    await withClient(async (c) => {
      const applied = await migrate(c, { warn: (msg, fields) => log.warn(`approvals: ${msg}`, fields) });
      if (applied.length > 0) log.info('approvals: control database migrated', { versions: applied });
    });
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  const listener = new NotificationListener({
    url: opts.url,
    channel: NOTIFY_CHANNEL,
    applicationName: `auditgate-approvals-listen:${opts.gatewayId}`.slice(0, 63),
    log,
    onNotify: wake,
    onReconnect: wakeAll,
  });
  try {
    await listener.start();
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  const sweepTimer = setInterval(() => void sweep(), opts.sweepIntervalMs ?? 1_000);
  sweepTimer.unref();

  const service: ApprovalService = {
    async createStatementRequest(r: NewStatementRequest): Promise<StatementRequest> {
      validateNew(r);
      const created = await store.insertStatementRequest(pool, {
        id: randomUUID(),
        requester: r.requester,
        gateway_id: r.gateway_id,
        session_id: r.session_id,
        database: r.database,
        upstream_role: r.upstream_role,
        sql: r.sql,
        params: r.params,
        statement_hash: statementHash(r.sql, r.params),
        facts: r.facts,
        reason: r.reason,
        approver_groups: r.approver_groups,
        required_approvals: r.required_approvals,
        ttl_seconds: Math.ceil(r.ttl_seconds),
      });
      emit({ event: 'requested', request: created });
      return created;
    },

    async createAccessRequest(r: NewAccessRequest): Promise<AccessRequest> {
      validateNew(r);
      if (!Number.isInteger(r.minutes) || r.minutes < 1) throw new RangeError(`minutes must be a positive integer, got ${r.minutes}`);
      const created = await store.insertAccessRequest(pool, {
        id: randomUUID(),
        requester: r.requester,
        role: r.role,
        minutes: r.minutes,
        reason: r.reason,
        approver_groups: r.approver_groups,
        required_approvals: r.required_approvals,
        ttl_seconds: Math.ceil(r.ttl_seconds),
      });
      emit({ event: 'requested', request: created });
      return created;
    },

    get: read,

    async list(filter) {
      await sweep(); // the check on read, for everything
      return store.listRequests(pool, filter);
    },

    async decide(id: string, approver: Requester, decision: 'approve' | 'reject', comment: string) {
      const out = await tx<Outcome<{ request: ApprovalRequest; granted: boolean }>>(async (c) => {
        const row = await store.lockRequest(c, id);
        if (!row) return { refused: new ApprovalRefused('not_found', `no approval request ${id}`) };
        if (row.due && expirable(row)) {
          const expired = await store.expireDue(c, id);
          return { refused: new ApprovalRefused('not_pending', `request ${id} has expired`), expired };
        }
        if (row.status !== 'pending') {
          return { refused: new ApprovalRefused('not_pending', `request ${id} is ${row.status}, not pending`) };
        }
        if (approver.subject === row.requester_subject && approver.issuer === row.requester_issuer) {
          return { refused: new ApprovalRefused('self_approval', 'the requester cannot decide their own request') };
        }
        if (!approver.groups.some((g) => row.approver_groups.includes(g))) {
          return {
            refused: new ApprovalRefused(
              'not_an_approver',
              `${approver.subject} is in none of the approver groups (${row.approver_groups.join(', ')})`,
            ),
          };
        }
        // Checked first for a clean answer; the UNIQUE constraint (ON CONFLICT DO NOTHING) is what guarantees it.
        if ((await store.hasDecided(c, id, approver.subject)) || !(await store.insertDecision(c, id, approver, decision, comment))) {
          return { refused: new ApprovalRefused('duplicate_approver', `${approver.subject} has already decided on request ${id}`) };
        }
        let granted = false;
        if (decision === 'reject') {
          await store.markClosed(c, id, 'rejected', `rejected by ${approver.subject}`);
        } else if ((await store.countApprovals(c, id)) >= row.required_approvals) {
          await store.markApproved(c, row);
          granted = true;
        }
        await store.notify(c, id);
        const request = await store.getRequest(c, id); // the committed state, read under our lock
        return { ok: { request: request!, granted } };
      });
      if (out.expired) await emitExpired(out.expired);
      if ('refused' in out) throw out.refused;
      const { request, granted } = out.ok;
      const mine = [...request.decisions].reverse().find((d) => d.approver.subject === approver.subject)!;
      emit({ event: decision === 'approve' ? 'approved' : 'rejected', request, decision: mine });
      if (granted) emit({ event: 'granted', request });
      wake(id);
      return request;
    },

    async withdraw(id: string, reason: string): Promise<void> {
      const out = await tx<Outcome<ApprovalRequest | null>>(async (c) => {
        const row = await store.lockRequest(c, id);
        if (!row) return { refused: new ApprovalRefused('not_found', `no approval request ${id}`) };
        if (row.due && expirable(row)) return { ok: null, expired: await store.expireDue(c, id) };
        // Only a pending request can be withdrawn; anything else is settled already (a no-op, so
        // a disconnect racing a decision is harmless). An approved, unreleased statement stays
        // claimable for retry mode until its release deadline.
        if (row.status !== 'pending') return { ok: null };
        await store.markClosed(c, id, 'withdrawn', reason);
        await store.notify(c, id);
        return { ok: await store.getRequest(c, id) };
      });
      if (out.expired) await emitExpired(out.expired);
      if ('refused' in out) throw out.refused;
      if (out.ok) {
        emit({ event: 'withdrawn', request: out.ok });
        wake(id);
      }
    },

    waitForDecision(id: string, signal?: AbortSignal): Promise<ApprovalRequest> {
      if (closed) return Promise.reject(new Error('approval service is closed'));
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      return new Promise<ApprovalRequest>((resolve, reject) => {
        let done = false;
        let checking = false;
        let again = false;
        let deadline: NodeJS.Timeout | undefined;
        let deadlineAt = 0;
        const finish = (settle: () => void): void => {
          if (done) return;
          done = true;
          clearTimeout(deadline);
          signal?.removeEventListener('abort', onAbort);
          const set = waiters.get(id);
          set?.delete(waiter);
          if (set?.size === 0) waiters.delete(id);
          settle();
        };
        const onAbort = (): void => finish(() => reject(abortReason(signal!)));
        const check = (): void => {
          if (done) return;
          if (checking) {
            again = true; // a change arrived while reading: read once more
            return;
          }
          checking = true;
          void (async () => {
            try {
              do {
                again = false;
                const r = await read(id);
                if (done) return;
                if (!r) return finish(() => reject(new ApprovalRefused('not_found', `no approval request ${id}`)));
                if (r.status !== 'pending') return finish(() => resolve(r));
                // Wake at the deadline even if no instance's sweep gets there first.
                const at = Date.parse(r.expires_at);
                if (at !== deadlineAt) {
                  deadlineAt = at;
                  clearTimeout(deadline);
                  deadline = setTimeout(check, Math.max(0, at - Date.now()) + 50);
                  deadline.unref();
                } else if (at <= Date.now()) {
                  // This host's clock is ahead of the database's: look again shortly.
                  clearTimeout(deadline);
                  deadline = setTimeout(check, 250);
                  deadline.unref();
                }
              } while (again && !done);
            } catch (err) {
              // A failed read (control database unreachable): the next notification, deadline,
              // reconnect or sweep poll retries.
              if (!done) {
                log.warn('approvals: reading a waited-for request failed', { id, error: (err as Error).message });
                clearTimeout(deadline);
                deadline = setTimeout(check, 1_000);
                deadline.unref();
              }
            } finally {
              checking = false;
            }
          })();
        };
        const waiter: Waiter = { check, fail: (err) => finish(() => reject(err)) };
        let set = waiters.get(id);
        if (!set) waiters.set(id, (set = new Set()));
        set.add(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
        check(); // registered first: a change committed from here on wakes this read or the next
      });
    },

    async claimRelease(id: string, hash: string, gatewayId: string): Promise<boolean> {
      if (!(await store.claimRelease(pool, id, hash, gatewayId))) return false;
      const r = await store.getRequest(pool, id);
      if (r?.type === 'statement') emit({ event: 'released', request: r });
      wake(id);
      return true;
    },

    findApproved: (subject, hash) => store.findApproved(pool, subject, hash),

    activeGrants: (subject) => store.activeGrants(pool, subject),

    onEvent(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(sweepTimer);
      const err = new Error('approval service is closed');
      for (const set of [...waiters.values()]) for (const w of [...set]) w.fail(err);
      await listener.close();
      await sweeping?.catch(() => {});
      await pool.end();
    },
  };
  return service;
}

function expirable(r: { status: string; type: string }): boolean {
  return r.status === 'pending' || (r.status === 'approved' && r.type === 'statement');
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error('the wait for an approval decision was aborted');
  err.name = 'AbortError';
  return err;
}

function validateNew(r: { approver_groups: string[]; required_approvals: number; ttl_seconds: number }): void {
  if (!Number.isInteger(r.required_approvals) || r.required_approvals < 1) {
    throw new RangeError(`required_approvals must be a positive integer, got ${r.required_approvals}`);
  }
  if (!Number.isFinite(r.ttl_seconds) || r.ttl_seconds <= 0) {
    throw new RangeError(`ttl_seconds must be positive, got ${r.ttl_seconds}`);
  }
  if (r.approver_groups.length === 0) throw new RangeError('approver_groups is empty: nobody could approve the request');
}
