// The relay between an authenticated agent and its upstream session. Every statement is
// decided before it is forwarded; a denied one is replaced by a statement that cannot parse,
// so PostgreSQL itself keeps the protocol's order, transaction state and error-until-Sync
// rule exact, and the gateway rewrites that error into its denial.
import type { Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import type { PreparedRegistry, StatementFacts } from '../analysis/facts.js';
import { errorResponse, type TransactionStatus } from '../protocol/backend.js';
import { ProtocolError } from '../protocol/errors.js';
import { MessageFramer } from '../protocol/framer.js';
import { parseBind, parseExecute, parseParse, parseQuery, parseTarget } from '../protocol/frontend.js';
import type { Logger } from './logger.js';
import type { ResultFilter } from './result-filter.js';
import { decideSql, type GateContext, type Verdict } from './statement-gate.js';

/** Fails PostgreSQL's parser without touching anything: the upstream answers with an error we replace. */
const DENIED_SQL = 'auditgate_statement_denied_by_policy';
const DENIED_QUERY = serialize.query(DENIED_SQL);
const deniedParse = (name: string) => serialize.parse({ name, text: DENIED_SQL });
/** A Bind of a statement that does not exist: PostgreSQL refuses it and skips to Sync. */
const DENIED_BIND = serialize.bind({ portal: '', statement: DENIED_SQL, values: [] });
const FAST_PATH_REFUSAL = 'auditgate: denied: the fast-path function call interface bypasses SQL and is not allowed';

/** A forwarded client message whose upstream answer has not finished yet. */
type Pending =
  | { kind: 'query'; verdict: Verdict | null; denial: string | null; index: number; filter: ResultFilter | null }
  | { kind: 'parse'; denial: string | null }
  | { kind: 'bind'; denial: string | null }
  | { kind: 'close' | 'sync' }
  | { kind: 'describe'; portal: Portal | null; statement: PreparedStatement | null; swallow: boolean }
  | { kind: 'execute'; portal: Portal | null; filter: ResultFilter | null; primed: boolean };

interface PreparedStatement {
  facts: StatementFacts[];
  verdict: Verdict;
  rowDescription: Buffer | null;
}

interface Portal {
  statement: PreparedStatement | null;
  /** The decision with the bound values, when the policy asked for one (else the statement's). */
  verdict: Verdict | null;
  resultFormats: number[];
  rowDescription: Buffer | null;
}

export interface RelayOptions {
  maxMessageBytes: number;
  log: Logger;
  /** Masking for a statement's result; null when it passes untouched. */
  resultFilter?: (verdict: Verdict, statementIndex: number) => ResultFilter | null;
  /** After a DDL statement completes: cached catalog facts (masking) may be stale. */
  onDdl?: () => void;
  /** Called once per decided SQL string (the recorder will listen here). */
  onVerdict?: (verdict: Verdict, sql: string, protocol: 'simple' | 'extended') => void;
}

export class Relay {
  private readonly clientFramer: MessageFramer;
  private readonly upstreamFramer: MessageFramer;
  private readonly pending: Pending[] = [];
  private readonly statements = new Map<string, PreparedStatement>();
  private readonly portals = new Map<string, Portal>();
  private prepared: PreparedRegistry = new Map();
  private txStatus: TransactionStatus = 'I';
  private skipUntilSync = false;
  private upstreamQueue: Buffer[] = [];
  private pumping = false;
  private readonly pauses = new Set<string>();
  private closed = false;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly ctx: GateContext,
    private readonly opts: RelayOptions,
  ) {
    this.clientFramer = new MessageFramer({ maxMessageBytes: opts.maxMessageBytes });
    // The server's messages can be as large as PostgreSQL allows (1 GiB): we stream, not cap.
    this.upstreamFramer = new MessageFramer({ maxMessageBytes: 0x40000000 + 5 });
  }

  start(clientBytes: Buffer, upstreamBytes: Buffer): void {
    this.client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    this.upstream.on('data', (chunk: Buffer) => this.onUpstreamData(chunk));
    this.client.on('drain', () => this.resume('client-drain'));
    this.upstream.on('drain', () => this.resumeClient());
    this.client.on('close', () => this.close('client closed'));
    this.upstream.on('close', () => this.close('upstream closed'));
    this.client.on('error', (err) => this.close(`client error: ${err.message}`));
    this.upstream.on('error', (err) => this.fail(`upstream connection failed: ${err.message}`, '08006'));
    if (upstreamBytes.length) this.onUpstreamData(upstreamBytes);
    if (clientBytes.length) this.onClientData(clientBytes);
    // The upstream connector hands the socket over paused: a 'data' listener alone does not resume it.
    this.upstream.resume();
    this.client.resume();
  }

  // ---- agent → upstream ---------------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    if (this.closed) return;
    this.upstream.cork();
    try {
      for (const m of this.clientFramer.push(chunk)) {
        this.handleClient(m);
        if (this.closed) return;
      }
    } catch (err) {
      const protocol = err instanceof ProtocolError;
      this.fail(protocol ? `invalid message from client: ${err.message}` : `internal error: ${(err as Error).message}`, protocol ? '08P01' : 'XX000');
      if (!protocol) this.opts.log.error('relay error on client message', { error: (err as Error).stack });
      return;
    } finally {
      this.upstream.uncork();
    }
    if (this.upstream.writableNeedDrain) this.client.pause();
  }

  private resumeClient(): void {
    if (!this.closed) this.client.resume();
  }

  private send(message: Buffer, pending?: Pending): void {
    if (pending) this.pending.push(pending);
    this.upstream.write(message);
  }

  private get inTransaction(): boolean {
    return this.txStatus !== 'I';
  }

  private handleClient(m: Buffer): void {
    const type = String.fromCharCode(m[0]!);
    if (this.skipUntilSync) {
      // Error-until-Sync: PostgreSQL would ignore these; nothing undecided may reach it.
      if (type === 'S') {
        this.skipUntilSync = false;
        this.send(m, { kind: 'sync' });
      } else if (type === 'H') this.send(m);
      else if (type === 'X') this.terminate(m);
      return;
    }
    switch (type) {
      case 'Q':
        return this.onQuery(m);
      case 'P':
        return this.onParse(m);
      case 'B':
        return this.onBind(m);
      case 'D': {
        const t = parseTarget(m, 'Describe');
        const portal = t.kind === 'P' ? (this.portals.get(t.name) ?? null) : null;
        const statement = t.kind === 'S' ? (this.statements.get(t.name) ?? null) : null;
        return this.send(m, { kind: 'describe', portal, statement, swallow: false });
      }
      case 'E':
        return this.onExecute(m);
      case 'C': {
        const t = parseTarget(m, 'Close');
        if (t.kind === 'S') this.statements.delete(t.name);
        else this.portals.delete(t.name);
        return this.send(m, { kind: 'close' });
      }
      case 'S':
        return this.send(m, { kind: 'sync' });
      case 'H': // Flush
      case 'd': // CopyData
      case 'c': // CopyDone
      case 'f': // CopyFail
        return this.send(m);
      case 'F':
        return this.send(DENIED_QUERY, { kind: 'query', verdict: null, denial: FAST_PATH_REFUSAL, index: 0, filter: null });
      case 'X':
        return this.terminate(m);
      default:
        throw new ProtocolError(`unexpected message type '${type}'`);
    }
  }

  private onQuery(m: Buffer): void {
    const sql = parseQuery(m);
    // PREPARE/DEALLOCATE change the session's registry only if the string is allowed to run.
    const prepared = new Map(this.prepared);
    const verdict = decideSql(this.ctx, sql, { protocol: 'simple', inTransaction: this.inTransaction, prepared });
    this.opts.onVerdict?.(verdict, sql, 'simple');
    if (verdict.refusal) {
      this.send(DENIED_QUERY, { kind: 'query', verdict, denial: verdict.refusal, index: 0, filter: null });
      return;
    }
    this.prepared = prepared;
    this.send(m, { kind: 'query', verdict, denial: null, index: 0, filter: null });
  }

  private onParse(m: Buffer): void {
    const parse = parseParse(m);
    const verdict = decideSql(this.ctx, parse.query, { protocol: 'extended', inTransaction: this.inTransaction });
    this.opts.onVerdict?.(verdict, parse.query, 'extended');
    if (verdict.refusal) {
      this.statements.delete(parse.name);
      this.send(deniedParse(parse.name), { kind: 'parse', denial: verdict.refusal });
      this.skipUntilSync = true;
      return;
    }
    this.statements.set(parse.name, { facts: verdict.facts, verdict, rowDescription: null });
    this.send(m, { kind: 'parse', denial: null });
  }

  private onBind(m: Buffer): void {
    const bind = parseBind(m);
    const statement = this.statements.get(bind.statement) ?? null;
    let verdict = statement?.verdict ?? null;
    // A decision the policy marked uncacheable for a statement with parameters may depend on the
    // values: decide again now that they are bound.
    if (statement && !statement.verdict.cacheable && statement.facts.some((f) => f.param_count > 0)) {
      const sql = statement.facts[0]?.sql ?? '';
      verdict = decideSql(this.ctx, sql, { protocol: 'extended', inTransaction: this.inTransaction, facts: statement.facts, params: bind.params });
      this.opts.onVerdict?.(verdict, sql, 'extended');
      if (verdict.refusal) {
        this.portals.delete(bind.portal);
        this.send(DENIED_BIND, { kind: 'bind', denial: verdict.refusal });
        this.skipUntilSync = true;
        return;
      }
    }
    this.portals.set(bind.portal, { statement, verdict, resultFormats: bind.resultFormats, rowDescription: null });
    this.send(m, { kind: 'bind', denial: null });
  }

  private onExecute(m: Buffer): void {
    const exec = parseExecute(m);
    const portal = this.portals.get(exec.portal) ?? null;
    const verdict = portal?.verdict ?? null;
    const filter = verdict ? (this.opts.resultFilter?.(verdict, 0) ?? null) : null;
    if (filter && portal && !portal.rowDescription && !portal.statement?.rowDescription) {
      // Masking needs the result's column origins; the client did not ask, so ask and swallow the answer.
      this.send(serialize.describe({ type: 'P', name: exec.portal }), { kind: 'describe', portal, statement: null, swallow: true });
    }
    this.send(m, { kind: 'execute', portal, filter, primed: false });
  }

  private terminate(m: Buffer): void {
    this.upstream.end(m);
    this.close('client terminated');
  }

  // ---- upstream → agent ---------------------------------------------------------------------

  private onUpstreamData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      for (const m of this.upstreamFramer.push(chunk)) this.upstreamQueue.push(m);
    } catch (err) {
      this.fail(`invalid message from the database: ${(err as Error).message}`, '08P01');
      return;
    }
    this.pump();
  }

  /** Forwards queued upstream messages in order; pauses the upstream while masking awaits the catalog. */
  private pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    this.client.cork();
    try {
      while (this.upstreamQueue.length && !this.closed) {
        const m = this.upstreamQueue.shift()!;
        const out = this.handleUpstream(m);
        if (out instanceof Promise) {
          this.pause('masking');
          out.then(
            (b) => {
              if (b.length) this.client.write(b);
              this.pumping = false;
              this.resume('masking');
              this.pump();
            },
            (err: unknown) => {
              this.pumping = false;
              this.fail(`masking failed: ${(err as Error).message}`, 'XX000');
            },
          );
          return;
        }
        if (out.length) this.client.write(out);
      }
    } catch (err) {
      this.opts.log.error('relay error on upstream message', { error: (err as Error).stack });
      this.fail(`internal error: ${(err as Error).message}`, 'XX000');
      return;
    } finally {
      this.client.uncork();
    }
    this.pumping = false;
    if (this.client.writableNeedDrain) this.pause('client-drain');
  }

  private handleUpstream(m: Buffer): Buffer | Promise<Buffer> {
    const type = String.fromCharCode(m[0]!);
    const head = this.pending[0];
    switch (type) {
      case 'Z': {
        this.txStatus = String.fromCharCode(m[5]!) as TransactionStatus;
        this.shiftThrough('query', 'sync');
        return m;
      }
      case 'E':
        return this.onUpstreamError(m, head);
      case '1': // ParseComplete
      case '2': // BindComplete
      case '3': // CloseComplete
        this.pending.shift();
        return m;
      case 't': // ParameterDescription (part of Describe statement)
        return head?.kind === 'describe' && head.swallow ? EMPTY : m;
      case 'n': // NoData
        if (head?.kind === 'describe') {
          this.pending.shift();
          return head.swallow ? EMPTY : m;
        }
        return m;
      case 'T':
        return this.onRowDescription(m, head);
      case 'D': {
        const filter = this.currentFilter(head);
        if (!filter) return m;
        const primed = this.primeExecute(head);
        return primed ? primed.then(() => filter.onDataRow(m)) : filter.onDataRow(m);
      }
      case 'C': // CommandComplete
      case 'I': // EmptyQueryResponse
        if (head?.kind === 'query') {
          if (head.verdict?.facts[head.index]?.kind === 'ddl') this.opts.onDdl?.();
          head.index++;
          head.filter = null;
        } else if (head?.kind === 'execute') {
          if (head.portal?.statement?.facts[0]?.kind === 'ddl') this.opts.onDdl?.();
          this.pending.shift();
        }
        return m;
      case 's': // PortalSuspended
        if (head?.kind === 'execute') this.pending.shift();
        return m;
      case 'H': {
        // CopyOutResponse: COPY ... TO STDOUT through a filter when the statement needs one.
        const filter = this.startResultFilter(head);
        if (head?.kind === 'execute') head.primed = true;
        return filter ? filter.onCopyOutResponse(m) : m;
      }
      case 'd': {
        const filter = this.currentFilter(head);
        return filter ? filter.onCopyData(m) : m;
      }
      case 'N': {
        const filter = this.startResultFilter(head);
        return filter ? filter.onErrorOrNotice(m) : m;
      }
      default:
        return m; // ParameterStatus, NotificationResponse, CopyInResponse, CopyDone, ...
    }
  }

  private onUpstreamError(m: Buffer, head: Pending | undefined): Buffer {
    if (!head) return m; // e.g. FATAL on shutdown
    const denial = head.kind === 'query' || head.kind === 'parse' || head.kind === 'bind' ? head.denial : null;
    let out = m;
    if (denial) out = errorResponse({ severity: 'ERROR', code: '42501', message: denial });
    else {
      // A statement that failed before any result (an UPDATE's unique violation) still gets its
      // filter: error text can carry sensitive values.
      const filter = this.startResultFilter(head);
      if (filter) out = filter.onErrorOrNotice(m);
    }
    if (head.kind !== 'query' && head.kind !== 'sync') {
      // PostgreSQL skips everything up to the next Sync: so do our expectations.
      while (this.pending.length && this.pending[0]!.kind !== 'sync') this.pending.shift();
    }
    return out;
  }

  private onRowDescription(m: Buffer, head: Pending | undefined): Buffer | Promise<Buffer> {
    if (head?.kind === 'describe') {
      this.pending.shift();
      if (head.portal) head.portal.rowDescription = m;
      if (head.statement) head.statement.rowDescription = m;
      return head.swallow ? EMPTY : m;
    }
    const filter = this.startResultFilter(head);
    return filter ? filter.onRowDescription(m) : m;
  }

  /** The filter for the result now starting (a simple-query statement or an Execute). */
  private startResultFilter(head: Pending | undefined): ResultFilter | null {
    if (head?.kind === 'query') {
      if (head.verdict && !head.filter) head.filter = this.opts.resultFilter?.(head.verdict, head.index) ?? null;
      return head.filter;
    }
    if (head?.kind === 'execute') return head.filter;
    return null;
  }

  private currentFilter(head: Pending | undefined): ResultFilter | null {
    if (head?.kind === 'query' || head?.kind === 'execute') return head.filter;
    return null;
  }

  /**
   * Execute results arrive without a RowDescription: the first row of one primes its filter
   * with the description from the client's (or our injected) Describe and the Bind's formats.
   * A filter never primed masks every column (ResultFilter's contract).
   */
  private primeExecute(head: Pending | undefined): Promise<unknown> | null {
    if (head?.kind !== 'execute' || head.primed || !head.filter) return null;
    head.primed = true;
    const desc = head.portal?.rowDescription ?? head.portal?.statement?.rowDescription;
    if (!desc) return null;
    const r = head.filter.onRowDescription(desc, head.portal?.resultFormats);
    return r instanceof Promise ? r : null;
  }

  private shiftThrough(...kinds: Pending['kind'][]): void {
    while (this.pending.length) {
      const p = this.pending.shift()!;
      if (kinds.includes(p.kind)) return;
    }
  }

  // ---- flow control and teardown ------------------------------------------------------------

  private pause(reason: string): void {
    this.pauses.add(reason);
    this.upstream.pause();
  }

  private resume(reason: string): void {
    this.pauses.delete(reason);
    if (this.pauses.size === 0 && !this.closed) this.upstream.resume();
  }

  /** Ends the session with an error the agent can read, then closes both sides. */
  fail(message: string, code: string): void {
    if (this.closed) return;
    this.opts.log.warn('session ended', { reason: message });
    if (!this.client.destroyed) this.client.end(errorResponse({ severity: 'FATAL', code, message: `auditgate: ${message}` }));
    this.close(message);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.log.debug('relay closed', { reason });
    if (!this.upstream.destroyed) this.upstream.destroy();
    if (!this.client.destroyed) this.client.end();
    this.resolveDone();
  }
}

const EMPTY = Buffer.alloc(0);
