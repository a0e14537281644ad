// The gateway server: accepts agents, runs the startup handshake, relays each session, and
// maps CancelRequests to the right upstream backend. One bad connection never stops the rest.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { SessionInfo } from '../../policies/contract.js';
import { DecisionCache, sessionContextKey } from './decision-cache.js';
import type { Recorder } from '../recorder/recorder.js';
import { SessionRecorder, refusedConnectionRecord } from '../recorder/session-recorder.js';
import { ApprovalGate, type ApprovalGateOptions } from './approval-gate.js';
import { Relay, type RelayOptions } from './relay.js';
import type { Verdict } from './statement-gate.js';
import { establishSession, StartupRefused, type StartupOptions } from './startup.js';

export interface GatewayOptions extends Omit<StartupOptions, 'onCancel'> {
  host: string;
  port: number;
  maxConnections: number;
  /** Sends a CancelRequest for this upstream backend. */
  cancelUpstream(key: { processId: number; secretKey: number }): Promise<void>;
  /** Masking for one session's results (the session's upstream database decides the catalog). */
  resultFilterFor?: (session: SessionInfo) => RelayOptions['resultFilter'];
  /** Decisions shared across sessions with identical attributes (see decision-cache.ts). */
  decisionCache?: DecisionCache<Verdict>;
  onDdl?: RelayOptions['onDdl'];
  /** Records sessions and statements (absent: nothing is recorded; tests of the relay alone). */
  recorder?: Recorder;
  /** Holds statements the policy sends for approval (absent: they are denied). */
  approvals?: ApprovalGateOptions;
  onVerdict?: RelayOptions['onVerdict'];
}

interface LiveSession {
  relay: Relay;
  upstreamKey: { processId: number; secretKey: number };
}

export class Gateway {
  private server: Server | null = null;
  private readonly sessions = new Map<string, LiveSession>();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: GatewayOptions) {}

  get activeSessions(): number {
    return this.sessions.size;
  }

  async listen(): Promise<AddressInfo> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    server.maxConnections = this.opts.maxConnections;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.log.error('listener error', { error: err.message }));
    return server.address() as AddressInfo;
  }

  /** Stops accepting, ends every session, resolves when the listener is closed. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sessions.values()) s.relay.close('gateway shutting down');
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {}); // reported by the handshake or the relay; never crashes the gateway
    void this.run(socket);
  }

  private async run(socket: Socket): Promise<void> {
    let established;
    try {
      established = await establishSession(socket, { ...this.opts, onCancel: (pid, secret) => this.cancel(pid, secret) });
    } catch (err) {
      if (!(err instanceof StartupRefused)) this.opts.log.error('startup crashed', { error: (err as Error).stack });
      else if (this.opts.recorder && err.context.clientAddress !== undefined) {
        const rec = refusedConnectionRecord(err.context, err.sqlstate, err.detail ? `${err.message} (${err.detail})` : err.message, this.opts.engine.bundleSha256);
        this.opts.recorder.append(rec, false).catch((e: Error) => this.opts.log.error('audit record lost', { kind: 'session_start', error: e.message }));
      }
      return;
    }
    if (!established) return;
    const { client, upstream, identity, session, gatewayKey, clientBytes, connect, tls } = established;
    const startedAt = process.hrtime.bigint();
    const recording = this.opts.recorder ? new SessionRecorder(this.opts.recorder, identity, session, () => this.opts.engine.bundleSha256, this.opts.log) : undefined;
    recording?.start({ tls, read_only: connect.read_only ?? false, max_session_seconds: connect.max_session_seconds ?? null, target: session.target, environment: session.environment });
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    upstream.socket.setNoDelay(true);
    const gate = {
      engine: this.opts.engine,
      identity,
      session,
      cache: this.opts.decisionCache,
      contextKey: sessionContextKey(identity, session),
      contextMemo: undefined,
    };
    const relay = new Relay(client, upstream.socket, gate, {
      maxMessageBytes: this.opts.maxMessageBytes,
      log: this.opts.log,
      resultFilter: this.opts.resultFilterFor?.(session),
      onDdl: this.opts.onDdl,
      onVerdict: this.opts.onVerdict,
      recording,
      approvals: this.opts.approvals ? new ApprovalGate(this.opts.approvals, identity, session) : undefined,
    });
    const key = `${gatewayKey.processId}:${gatewayKey.secretKey}`;
    this.sessions.set(key, { relay, upstreamKey: upstream.backendKey });
    relay.start(clientBytes, upstream.pending);
    await relay.done;
    this.sessions.delete(key);
    recording?.end(relay.closeReason ?? 'closed', Number((process.hrtime.bigint() - startedAt) / 1000n));
    this.opts.log.info('session ended', { session: session.id, subject: identity.subject });
  }

  private cancel(processId: number, secretKey: number): void {
    const live = this.sessions.get(`${processId}:${secretKey}`);
    if (!live) {
      this.opts.log.info('cancel request for an unknown session ignored');
      return;
    }
    // A statement waiting for approval is withdrawn; whatever runs upstream is cancelled too.
    live.relay.cancelApprovalWait();
    this.opts.cancelUpstream(live.upstreamKey).catch((err: Error) => this.opts.log.warn('cancel failed', { error: err.message }));
  }
}
