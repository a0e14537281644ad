// The relay between an authenticated agent and its upstream session. Every statement is
// decided before it is forwarded; a denied one is replaced by a statement that cannot parse,
// so PostgreSQL itself keeps the protocol's order, transaction state and error-until-Sync
// rule exact, and the gateway rewrites that error into its denial.
import type { Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import { analyze } from '../analysis/index.js';
import type { PreparedRegistry, StatementFacts } from '../analysis/facts.js';
import { errorResponse, readErrorFields, type TransactionStatus } from '../protocol/backend.js';
import { ProtocolError } from '../protocol/errors.js';
import { MessageFramer } from '../protocol/framer.js';
import { parseBind, parseExecute, parseParse, parseQuery, parseTarget } from '../protocol/frontend.js';
import type { SessionRecorder } from '../recorder/session-recorder.js';
import type { ApprovalGate } from './approval-gate.js';
import type { Logger } from './logger.js';
import type { ResultFilter } from './result-filter.js';
import { decideSql, type GateContext, type Verdict } from './statement-gate.js';
import { noteRelayedBytes } from './relayed-memory.js';

/** Fails PostgreSQL's parser without touching anything: the upstream answers with an error we replace. */
const DENIED_SQL = 'auditgate_statement_denied_by_policy';
const DENIED_QUERY = serialize.query(DENIED_SQL);
const deniedParse = (name: string) => serialize.parse({ name, text: DENIED_SQL });
/** A Bind of a statement that does not exist: PostgreSQL refuses it and skips to Sync. */
const DENIED_BIND = serialize.bind({ portal: '', statement: DENIED_SQL, values: [] });
/** An Execute of a portal that does not exist: PostgreSQL refuses it and skips to Sync. */
const DENIED_EXECUTE = serialize.execute({ portal: DENIED_SQL, rows: 0 });
const FAST_PATH_REFUSAL = 'auditgate: denied: the fast-path function call interface bypasses SQL and is not allowed';
const CURSOR_HINT = 'auditgate executes only portals created by Bind; FETCH from a cursor declared in SQL';

/** What the agent gets instead of the upstream's error for a message the relay replaced. */
interface Refusal {
  code: string;
  message: string;
  hint?: string;
}
const policyRefusal = (message: string): Refusal => ({ code: '42501', message });
/** Strict recording could not make the intent record durable: the statement does not run. */
const recorderRefusal = (err: Error): Refusal => ({
  code: '58030',
  message: `auditgate: refused: ${err.message}; the statement was not run`,
  hint: 'the gateway runs nothing it cannot record; it accepts statements again once its record directory is writable',
});

/** The record of a forwarded statement, completed when PostgreSQL has answered it. */
interface Tracked {
  id: number;
  started: bigint;
  rows: number | null;
  sqlstate: string | null;
  masked: { column: string; method: string; reason: string; count: number }[];
  detectorHits: Record<string, number>;
}

/**
 * A forwarded client message whose upstream answer has not finished yet. `seg` numbers the
 * stretch of messages up to and including a Sync or Query (each answered by one ReadyForQuery).
 */
type Pending =
  | { kind: 'query'; seg: number; verdict: Verdict | null; denial: Refusal | null; index: number; filter: ResultFilter | null; rec?: Tracked | null }
  | { kind: 'parse'; seg: number; name: string; statement: PreparedStatement | null; denial: Refusal | null }
  | { kind: 'bind'; seg: number; name: string; portal: Portal | null; denial: Refusal | null }
  | { kind: 'execute'; seg: number; portal: Portal | null; filter: ResultFilter | null; primed: boolean; denial: Refusal | null; rec?: Tracked | null }
  | { kind: 'describe'; seg: number; target: 'S' | 'P'; name: string; swallow: boolean }
  | { kind: 'close'; seg: number; target: 'S' | 'P'; name: string }
  | { kind: 'sync'; seg: number };

/** A prepared statement as PostgreSQL holds it: made by Parse, or by SQL PREPARE. */
interface PreparedStatement {
  /** What it runs (one statement: PostgreSQL refuses to prepare several). */
  facts: StatementFacts[];
  /** The decision at Parse; null for a SQL PREPARE, whose every use is decided like an EXECUTE. */
  verdict: Verdict | null;
  rowDescription: Buffer | null;
}

interface Portal {
  statement: PreparedStatement;
  /** The decision this portal runs under: the statement's, or the one made at Bind. */
  verdict: Verdict;
  resultFormats: number[];
  rowDescription: Buffer | null;
  /** The bound values (their hash goes in the record). */
  params: (string | null)[];
  /** Some value was bound in binary format: `params` holds null for it (not its value). */
  binaryParams: boolean;
}

/** Returned by a lookup whose answer depends on messages still in flight: hold the message. */
const WAIT = Symbol('wait');

/**
 * The session's named prepared statements as the analyzer reads them (for SQL EXECUTE). The
 * analyzer writes a string's own PREPARE/DEALLOCATE back into the registry it is given; this one
 * ignores those writes: the relay applies each when PostgreSQL confirms it (CommandComplete).
 */
class ConfirmedRegistry extends Map<string, StatementFacts> {
  override set(_name: string, _facts: StatementFacts): this {
    return this;
  }
  override delete(_name: string): boolean {
    return false;
  }
  override clear(): void {}
  put(name: string, facts: StatementFacts): void {
    super.set(name, facts);
  }
  remove(name: string): void {
    super.delete(name);
  }
  reset(): void {
    super.clear();
  }
}

export interface RelayOptions {
  maxMessageBytes: number;
  log: Logger;
  /** Masking for a statement's result; null when it passes untouched. */
  resultFilter?: (verdict: Verdict, statementIndex: number) => ResultFilter | null;
  /** After a DDL statement completes: cached catalog facts (masking) may be stale. */
  onDdl?: () => void;
  /** Records statements; in strict mode a statement waits for its intent record to be durable. */
  recording?: SessionRecorder;
  /** Holds statements the policy sends for approval (absent: they are denied). */
  approvals?: ApprovalGate;
  /** Called once per decided SQL string. */
  onVerdict?: (verdict: Verdict, sql: string, protocol: 'simple' | 'extended') => void;
}

export class Relay {
  private readonly clientFramer: MessageFramer;
  private readonly upstreamFramer: MessageFramer;
  private readonly pending: Pending[] = [];
  // What PostgreSQL holds, as its answers confirmed it (ParseComplete, BindComplete, CloseComplete,
  // CommandComplete of PREPARE/DEALLOCATE, ReadyForQuery ending a transaction): a failed or
  // skipped message changes nothing there, so these never drift from the server's own state.
  private readonly statements = new Map<string, PreparedStatement>();
  private readonly registry = new ConfirmedRegistry();
  private readonly portals = new Map<string, Portal>();
  // Parse/Bind/Close of the segment being sent, not yet confirmed. A Bind or Execute in the same
  // segment may rely on them: if one fails, PostgreSQL skips the rest of the segment anyway.
  private readonly statementChanges = new Map<string, PreparedStatement | null>();
  private readonly portalChanges = new Map<string, Portal | null>();
  private segment = 0;
  /** Client messages waiting for earlier segments' answers (see lookupStatement). */
  private held: Buffer[] = [];
  private holding = false;
  /** Held because a lookup waits for earlier segments' answers (not only for a record). */
  private holdForSegments = false;
  /** An intent record is being made durable, or a statement waits for approval: nothing after it may pass it. */
  private awaitingRecord = false;
  /** Aborts the approval wait of a held statement (CancelRequest, disconnect). */
  private approvalAbort: AbortController | null = null;
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
    if (!this.holding) this.client.resume();
  }

  // ---- agent → upstream ---------------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    if (this.closed) return;
    let messages: Buffer[];
    try {
      messages = this.clientFramer.push(chunk);
    } catch (err) {
      this.clientFailed(err);
      return;
    }
    this.handleClientMessages(messages);
  }

  private handleClientMessages(messages: Buffer[]): void {
    this.upstream.cork();
    try {
      for (const m of messages) {
        if (this.holding) this.held.push(m);
        else this.handleClient(m);
        if (this.closed) return;
      }
    } catch (err) {
      this.clientFailed(err);
      return;
    } finally {
      this.upstream.uncork();
    }
    if (this.holding || this.upstream.writableNeedDrain) this.client.pause();
  }

  private clientFailed(err: unknown): void {
    const protocol = err instanceof ProtocolError;
    this.fail(protocol ? `invalid message from client: ${err.message}` : `internal error: ${(err as Error).message}`, protocol ? '08P01' : 'XX000');
    if (!protocol) this.opts.log.error('relay error on client message', { error: (err as Error).stack });
  }

  private resumeClient(): void {
    if (!this.closed && !this.holding) this.client.resume();
  }

  /** Keeps this message and every later one until the answers it depends on have arrived. */
  private hold(m: Buffer): void {
    this.holding = true;
    this.holdForSegments = true;
    this.held.push(m);
  }

  private releaseHeld(): void {
    if (!this.holding || this.closed || this.awaitingRecord || (this.holdForSegments && this.earlierSegmentPending())) return;
    const held = this.held;
    this.held = [];
    this.holding = false;
    this.holdForSegments = false;
    this.handleClientMessages(held);
    if (!this.holding && !this.closed && !this.upstream.writableNeedDrain) this.client.resume();
  }

  /** True while answers to messages before the current segment are still to come. */
  private earlierSegmentPending(): boolean {
    const head = this.pending[0];
    return head !== undefined && head.seg < this.segment;
  }

  private send(message: Buffer, pending?: Pending): void {
    if (pending) this.pending.push(pending);
    this.upstream.write(message);
  }

  /** Sends a Sync or a Query: the segment ends, PostgreSQL will answer with ReadyForQuery. */
  private endSegment(message: Buffer, pending: Pending): void {
    this.send(message, pending);
    this.segment++;
    if (this.statementChanges.size) this.statementChanges.clear();
    if (this.portalChanges.size) this.portalChanges.clear();
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
        this.endSegment(m, { kind: 'sync', seg: this.segment });
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
        // Which statement or portal it describes is resolved when the answer arrives.
        const t = parseTarget(m, 'Describe');
        return this.send(m, { kind: 'describe', seg: this.segment, target: t.kind, name: t.name, swallow: false });
      }
      case 'E':
        return this.onExecute(m);
      case 'C': {
        const t = parseTarget(m, 'Close');
        if (t.kind === 'S') this.statementChanges.set(t.name, null);
        else this.portalChanges.set(t.name, null);
        return this.send(m, { kind: 'close', seg: this.segment, target: t.kind, name: t.name });
      }
      case 'S':
        return this.endSegment(m, { kind: 'sync', seg: this.segment });
      case 'H': // Flush
      case 'd': // CopyData
      case 'c': // CopyDone
      case 'f': // CopyFail
        return this.send(m);
      case 'F':
        this.opts.recording?.refused('(fast-path function call)', FAST_PATH_REFUSAL);
        return this.endSegment(DENIED_QUERY, {
          kind: 'query',
          seg: this.segment,
          verdict: null,
          denial: policyRefusal(FAST_PATH_REFUSAL),
          index: 0,
          filter: null,
        });
      case 'X':
        return this.terminate(m);
      default:
        throw new ProtocolError(`unexpected message type '${type}'`);
    }
  }

  private onQuery(m: Buffer): void {
    const sql = parseQuery(m);
    // The analyzer reads the confirmed registry for EXECUTE; the string's own PREPARE/DEALLOCATE
    // count for its later statements, and for the session once PostgreSQL has run them.
    const verdict = decideSql(this.ctx, sql, { protocol: 'simple', inTransaction: this.inTransaction, prepared: this.registry });
    // An EXECUTE is decided on what its name holds: not before earlier statements that may change it have answered.
    if (this.earlierSegmentPending() && readsPrepared(verdict.facts)) return this.hold(m);
    this.opts.onVerdict?.(verdict, sql, 'simple');
    const refuse = (refusal: Refusal) => this.endSegment(DENIED_QUERY, { kind: 'query', seg: this.segment, verdict, denial: refusal, index: 0, filter: null });
    const run = (v: Verdict, approvalId: string | null) =>
      this.recorded(v, sql, 'simple', null, approvalId, (rec) => this.endSegment(m, { kind: 'query', seg: this.segment, verdict: v, denial: null, index: 0, filter: null, rec }), refuse);
    if (this.held4approval(verdict)) return this.throughApproval(verdict, sql, null, 'simple', run, refuse);
    if (verdict.refusal) {
      this.opts.recording?.intent(verdict, sql, 'simple', null);
      return refuse(policyRefusal(verdict.refusal));
    }
    run(verdict, null);
  }

  /** A statement the policy holds for approval, with approvals configured: held, not denied. */
  private held4approval(verdict: Verdict): boolean {
    return verdict.outcome === 'approval' && this.opts.approvals !== undefined;
  }

  /**
   * Waits for the approval of a held statement (hold mode) or checks for one (retry mode). Later
   * client messages are held meanwhile, so nothing overtakes the statement. Once approved, the
   * statement is decided again with the approval in the policy input and `proceed` runs it.
   */
  private throughApproval(
    verdict: Verdict,
    sql: string,
    params: (string | null)[] | null,
    protocol: 'simple' | 'extended',
    proceed: (v: Verdict, approvalId: string) => void,
    refuse: (r: Refusal) => void,
  ): void {
    const gate = this.opts.approvals!;
    const abort = new AbortController();
    this.approvalAbort = abort;
    this.awaitingRecord = true;
    this.holding = true;
    const inTransaction = this.inTransaction;
    gate
      .resolve(verdict, sql, params, abort.signal, (requestId) => this.opts.recording?.intent(verdict, sql, protocol, params, requestId))
      .then(
        (outcome) => {
          this.approvalAbort = null;
          if (!outcome.ok) return this.afterRecord(() => refuse({ code: outcome.code, message: outcome.message, hint: outcome.hint }));
          const released = decideSql(this.ctx, sql, { protocol, inTransaction, facts: verdict.facts, params: params ?? undefined, approval: outcome.approval });
          if (released.outcome !== 'allow') {
            this.opts.recording?.intent(released, sql, protocol, params, outcome.requestId);
            return this.afterRecord(() => refuse(policyRefusal(released.refusal ?? `auditgate: denied: the policy refused the statement approved by request ${outcome.requestId}`)));
          }
          this.afterRecord(() => proceed(released, outcome.requestId));
        },
        (err: Error) => {
          this.approvalAbort = null;
          this.opts.log.error('approval failed', { error: err.message });
          this.afterRecord(() => refuse({ code: '58000', message: `auditgate: refused: the approval service failed (${err.message}); the statement was not run` }));
        },
      );
  }

  /** A CancelRequest for this session: withdraws a statement waiting for approval. True if there was one. */
  cancelApprovalWait(): boolean {
    if (!this.approvalAbort) return false;
    this.approvalAbort.abort();
    return true;
  }

  private onParse(m: Buffer): void {
    const parse = parseParse(m);
    const verdict = decideSql(this.ctx, parse.query, { protocol: 'extended', inTransaction: this.inTransaction });
    this.opts.onVerdict?.(verdict, parse.query, 'extended');
    // A statement held for approval is parsed (nothing runs at Parse); it waits at Execute.
    if (verdict.refusal && !this.held4approval(verdict)) {
      this.opts.recording?.intent(verdict, parse.query, 'extended', null);
      // PostgreSQL refuses the replacement: a named statement it holds stays, the unnamed one is dropped.
      this.send(deniedParse(parse.name), { kind: 'parse', seg: this.segment, name: parse.name, statement: null, denial: policyRefusal(verdict.refusal) });
      this.skipUntilSync = true;
      return;
    }
    const statement: PreparedStatement = { facts: verdict.facts, verdict, rowDescription: null };
    this.statementChanges.set(parse.name, statement);
    this.send(m, { kind: 'parse', seg: this.segment, name: parse.name, statement, denial: null });
  }

  private onBind(m: Buffer): void {
    const bind = parseBind(m);
    const statement = this.lookupStatement(bind.statement);
    if (statement === WAIT) return this.hold(m);
    if (statement === null) {
      const message = bind.statement === '' ? 'unnamed prepared statement does not exist' : `prepared statement "${bind.statement}" does not exist`;
      return this.refuseBind(bind.portal, { code: '26000', message });
    }
    let verdict = statement.verdict;
    // A SQL PREPARE is decided at each use, like its EXECUTE. A decision the policy marked
    // uncacheable for a statement with parameters may depend on the values: decide again with them.
    if (verdict === null || (!verdict.cacheable && statement.facts.some((f) => f.param_count > 0))) {
      const sql = statement.facts[0]?.sql ?? '';
      const facts = verdict === null ? statement.facts.map((f) => ({ ...f, protocol: 'extended' as const, in_transaction: this.inTransaction })) : statement.facts;
      verdict = decideSql(this.ctx, sql, { protocol: 'extended', inTransaction: this.inTransaction, facts, params: bind.params });
      this.opts.onVerdict?.(verdict, sql, 'extended');
      if (verdict.refusal && !this.held4approval(verdict)) {
        this.opts.recording?.intent(verdict, sql, 'extended', bind.params);
        return this.refuseBind(bind.portal, policyRefusal(verdict.refusal));
      }
    }
    const binaryParams = bind.params.length > 0 && bind.paramFormats.some((f) => f === 1);
    const portal: Portal = { statement, verdict, resultFormats: bind.resultFormats, rowDescription: null, params: bind.params, binaryParams };
    this.portalChanges.set(bind.portal, portal);
    this.send(m, { kind: 'bind', seg: this.segment, name: bind.portal, portal, denial: null });
  }

  private refuseBind(portal: string, denial: Refusal): void {
    this.send(DENIED_BIND, { kind: 'bind', seg: this.segment, name: portal, portal: null, denial });
    this.skipUntilSync = true;
  }

  private onExecute(m: Buffer): void {
    const exec = parseExecute(m);
    const portal = this.lookupPortal(exec.portal);
    if (portal === WAIT) return this.hold(m);
    if (portal === null) {
      // Nothing the gateway did not decide runs: not a portal it never saw bound (a cursor declared in SQL).
      const denial: Refusal = { code: '34000', message: `portal "${exec.portal}" does not exist`, hint: exec.portal === '' ? undefined : CURSOR_HINT };
      this.send(DENIED_EXECUTE, { kind: 'execute', seg: this.segment, portal: null, filter: null, primed: false, denial });
      this.skipUntilSync = true;
      return;
    }
    const sql = portal.statement.facts[0]?.sql ?? '';
    const refuse = (refusal: Refusal) => {
      this.send(DENIED_EXECUTE, { kind: 'execute', seg: this.segment, portal: null, filter: null, primed: false, denial: refusal });
      this.skipUntilSync = true;
    };
    const run = (verdict: Verdict, approvalId: string | null) => {
      const p = verdict === portal.verdict ? portal : { ...portal, verdict };
      const filter = this.opts.resultFilter?.(verdict, 0) ?? null;
      if (filter && !portal.rowDescription && !portal.statement.rowDescription) {
        // Masking needs the result's column origins; the client did not ask, so ask and swallow the answer.
        this.send(serialize.describe({ type: 'P', name: exec.portal }), { kind: 'describe', seg: this.segment, target: 'P', name: exec.portal, swallow: true });
      }
      // What runs is the portal's statement: its intent is recorded (and durable) before Execute is forwarded.
      this.recorded(verdict, sql, 'extended', portal.params, approvalId, (rec) => this.send(m, { kind: 'execute', seg: this.segment, portal: p, filter, primed: false, denial: null, rec }), refuse);
    };
    if (this.held4approval(portal.verdict)) {
      // An approval is bound to the values the approver saw: binary values are not shown or hashed.
      if (portal.binaryParams) {
        this.opts.recording?.intent(portal.verdict, sql, 'extended', portal.params);
        return refuse(policyRefusal('auditgate: denied: approval required, but the statement binds parameters in binary format; an approval is bound to the values the approver sees, so bind them as text'));
      }
      return this.throughApproval(portal.verdict, sql, portal.params, 'extended', run, refuse);
    }
    run(portal.verdict, null);
  }

  /**
   * Records the statement's intent. An allowed statement is forwarded by `forward` once its
   * record is durable (strict mode); until then later client messages are held, so nothing
   * overtakes it. If the record cannot be written, `refuse` runs instead.
   */
  private recorded(
    verdict: Verdict,
    sql: string,
    protocol: 'simple' | 'extended',
    params: (string | null)[] | null,
    approvalId: string | null,
    forward: (rec: Tracked | null) => void,
    refuse: (r: Refusal) => void,
  ): void {
    const recording = this.opts.recording;
    if (!recording) return forward(null);
    const { id, durable } = recording.intent(verdict, sql, protocol, params, approvalId);
    const rec: Tracked = { id, started: 0n, rows: null, sqlstate: null, masked: [], detectorHits: {} };
    const go = () => {
      rec.started = process.hrtime.bigint();
      forward(verdict.refusal ? null : rec);
    };
    if (!durable) return go();
    this.awaitingRecord = true;
    this.holding = true;
    durable.then(
      () => this.afterRecord(go),
      (err: Error) => this.afterRecord(() => refuse(recorderRefusal(err))),
    );
  }

  private afterRecord(action: () => void): void {
    this.awaitingRecord = false;
    if (this.closed) return;
    this.upstream.cork();
    try {
      action();
    } catch (err) {
      this.clientFailed(err);
      return;
    } finally {
      this.upstream.uncork();
    }
    // The action may itself wait (a record after an approval): then keep holding.
    if (!this.awaitingRecord && this.held.length === 0 && !this.holdForSegments) this.holding = false;
    this.releaseHeld();
    if (!this.holding && !this.closed && !this.upstream.writableNeedDrain) this.client.resume();
  }

  /** Adds a finished result's masking figures to its record. */
  private absorb(rec: Tracked | null | undefined, filter: ResultFilter | null): void {
    if (!rec || !filter?.summary) return;
    const s = filter.summary();
    rec.masked.push(...s.masked);
    for (const [k, n] of Object.entries(s.detectorHits)) rec.detectorHits[k] = (rec.detectorHits[k] ?? 0) + n;
  }

  private finish(rec: Tracked | null | undefined): void {
    if (!rec || !this.opts.recording) return;
    const durationUs = Number((process.hrtime.bigint() - rec.started) / 1000n);
    this.opts.recording.outcome(rec.id, { rows: rec.rows, durationUs, sqlstate: rec.sqlstate, masked: rec.masked, detectorHits: rec.detectorHits });
  }

  /**
   * The statement a Bind names, as PostgreSQL will see it. A Parse or Close earlier in this
   * segment decides it. Otherwise the confirmed state does, once every earlier segment has been
   * answered: one of them may still fail (a Parse, a PREPARE) or change the name (DEALLOCATE).
   */
  private lookupStatement(name: string): PreparedStatement | null | typeof WAIT {
    const changed = this.statementChanges.get(name);
    if (changed !== undefined) return changed;
    if (this.earlierSegmentPending()) return WAIT;
    return this.statements.get(name) ?? null;
  }

  private lookupPortal(name: string): Portal | null | typeof WAIT {
    const changed = this.portalChanges.get(name);
    if (changed !== undefined) return changed;
    if (this.earlierSegmentPending()) return WAIT;
    return this.portals.get(name) ?? null;
  }

  private setStatement(name: string, statement: PreparedStatement): void {
    this.statements.set(name, statement);
    // SQL cannot name the unnamed statement.
    if (name !== '' && statement.facts[0]) this.registry.put(name, statement.facts[0]);
  }

  private deleteStatement(name: string): void {
    this.statements.delete(name);
    this.registry.remove(name);
  }

  /** DEALLOCATE ALL, DISCARD ALL: every named statement (the unnamed one lives apart). */
  private deleteNamedStatements(): void {
    const unnamed = this.statements.get('');
    this.statements.clear();
    this.registry.reset();
    if (unnamed) this.statements.set('', unnamed);
  }

  private countRows(rec: Tracked | null | undefined, m: Buffer): void {
    if (!rec || m[0] !== 0x43) return;
    const n = tagRows(m);
    if (n !== null) rec.rows = (rec.rows ?? 0) + n;
  }

  /** A statement of a Query, or an Execute, completed: what it did to the session's names. */
  private onStatementDone(f: StatementFacts): void {
    switch (f.kind) {
      case 'ddl':
        this.opts.onDdl?.();
        return;
      case 'prepare':
        return this.confirmPrepare(f);
      case 'deallocate':
        if (f.prepared) this.deleteStatement(f.prepared.name);
        else this.deleteNamedStatements();
        return;
    }
    switch (f.command_tag) {
      case 'DISCARD ALL':
        this.deleteNamedStatements();
        this.portals.clear();
        return;
      case 'CLOSE CURSOR':
      case 'CLOSE CURSOR ALL':
        // SQL CLOSE can close a protocol portal too; the facts do not say which.
        this.portals.clear();
        return;
    }
  }

  private confirmPrepare(f: StatementFacts): void {
    const name = f.prepared?.name;
    if (name === undefined) return;
    // The PREPARE's own facts list no operations; its uses need the inner statement's. Rare: analyse again.
    const scratch: PreparedRegistry = new Map();
    analyze(f.sql, { protocol: 'simple', prepared: scratch });
    const inner = scratch.get(name);
    if (inner) this.setStatement(name, { facts: [inner], verdict: null, rowDescription: null });
    else this.deleteStatement(name); // cannot tell what it runs: unknown, so refused
  }

  private terminate(m: Buffer): void {
    this.upstream.end(m);
    this.close('client terminated');
  }

  // ---- upstream → agent ---------------------------------------------------------------------

  private onUpstreamData(chunk: Buffer): void {
    if (this.closed) return;
    noteRelayedBytes(chunk.length);
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
    if (this.holding) this.releaseHeld();
  }

  private handleUpstream(m: Buffer): Buffer | Promise<Buffer> {
    const type = String.fromCharCode(m[0]!);
    const head = this.pending[0];
    switch (type) {
      case 'Z': {
        this.txStatus = String.fromCharCode(m[5]!) as TransactionStatus;
        const done = this.shiftThrough('query', 'sync');
        if (done?.kind === 'query') {
          this.absorb(done.rec, done.filter);
          this.finish(done.rec);
          // Running a query dropped the unnamed statement and portal.
          this.deleteStatement('');
          this.portals.delete('');
        }
        // Out of a transaction block, no portal survives (only SQL WITH HOLD cursors, never executed here).
        if (this.txStatus === 'I' && this.portals.size) this.portals.clear();
        return m;
      }
      case 'E':
        return this.onUpstreamError(m, head);
      case '1': // ParseComplete
        if (head?.kind === 'parse' && head.statement) this.setStatement(head.name, head.statement);
        this.pending.shift();
        return m;
      case '2': // BindComplete
        if (head?.kind === 'bind' && head.portal) this.portals.set(head.name, head.portal);
        this.pending.shift();
        return m;
      case '3': // CloseComplete
        if (head?.kind === 'close') {
          if (head.target === 'S') this.deleteStatement(head.name);
          else this.portals.delete(head.name);
        }
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
          const f = head.verdict?.facts[head.index];
          if (f) this.onStatementDone(f);
          this.countRows(head.rec, m);
          this.absorb(head.rec, head.filter);
          head.index++;
          head.filter = null;
        } else if (head?.kind === 'execute') {
          const f = head.portal?.verdict.facts[0];
          if (f) this.onStatementDone(f);
          this.countRows(head.rec, m);
          this.absorb(head.rec, head.filter);
          this.finish(head.rec);
          this.pending.shift();
        }
        return m;
      case 's': // PortalSuspended
        if (head?.kind === 'execute') {
          this.absorb(head.rec, head.filter);
          this.finish(head.rec);
          this.pending.shift();
        }
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
    const denial = head.kind === 'query' || head.kind === 'parse' || head.kind === 'bind' || head.kind === 'execute' ? head.denial : null;
    let out = m;
    if (denial) out = errorResponse({ severity: 'ERROR', code: denial.code, message: denial.message, hint: denial.hint });
    else {
      // A statement that failed before any result (an UPDATE's unique violation) still gets its
      // filter: error text can carry sensitive values.
      const filter = this.startResultFilter(head);
      if (filter) out = filter.onErrorOrNotice(m);
    }
    // A failed Parse of the unnamed statement has dropped the previous one. A failed Bind may
    // or may not have replaced its portal: forget it (executing it is then refused, never guessed).
    if ((head.kind === 'query' || head.kind === 'execute') && head.rec) {
      head.rec.sqlstate = readErrorFields(m).get('C') ?? null;
      if (head.kind === 'execute') {
        this.absorb(head.rec, head.filter);
        this.finish(head.rec);
        head.rec = null;
      }
    }
    if (head.kind === 'parse' && head.name === '') this.deleteStatement('');
    else if (head.kind === 'bind') this.portals.delete(head.name);
    if (head.kind !== 'query' && head.kind !== 'sync') {
      // PostgreSQL skips everything up to the next Sync: so do our expectations.
      while (this.pending.length && this.pending[0]!.kind !== 'sync') this.pending.shift();
    }
    return out;
  }

  private onRowDescription(m: Buffer, head: Pending | undefined): Buffer | Promise<Buffer> {
    if (head?.kind === 'describe') {
      this.pending.shift();
      // Resolved now: the answers before this one have settled what the name holds.
      if (head.target === 'P') {
        const portal = this.portals.get(head.name);
        if (portal) portal.rowDescription = m;
      } else {
        const statement = this.statements.get(head.name);
        if (statement) statement.rowDescription = m;
      }
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

  /** Drops expectations up to the first of these kinds, which it returns (a ReadyForQuery ends them). */
  private shiftThrough(a: Pending['kind'], b: Pending['kind']): Pending | undefined {
    while (this.pending.length) {
      const p = this.pending.shift()!;
      if (p.kind === a || p.kind === b) return p;
    }
    return undefined;
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

  /** Why the session ended (for the session_end record). */
  closeReason: string | null = null;

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.approvalAbort?.abort(); // a held statement's request is withdrawn
    this.opts.log.debug('relay closed', { reason });
    if (!this.upstream.destroyed) this.upstream.destroy();
    if (!this.client.destroyed) this.client.end();
    this.resolveDone();
  }
}

const EMPTY = Buffer.alloc(0);

/** Rows from a CommandComplete tag: its last number ("SELECT 5", "INSERT 0 3", "UPDATE 2"). */
function tagRows(m: Buffer): number | null {
  const tag = m.toString('latin1', 5, m.length - 1);
  const sp = tag.lastIndexOf(' ');
  if (sp < 0) return null;
  const n = Number(tag.slice(sp + 1));
  return Number.isSafeInteger(n) ? n : null;
}

/** True when deciding these statements read the prepared-statement registry (EXECUTE, DEALLOCATE). */
function readsPrepared(facts: StatementFacts[]): boolean {
  for (const f of facts) if (f.prepared !== null && f.kind !== 'prepare') return true;
  return false;
}
