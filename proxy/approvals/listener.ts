// One dedicated connection per approval service that LISTENs on the approvals channel. A pooled
// connection cannot listen (the pool hands it to someone else), so this one stays outside the
// pool. When it drops (restart, failover, pg_terminate_backend, a dead peer found by the health
// check) it reconnects with backoff; notifications sent while it was away are lost, so the
// owner re-reads whatever it waits for when `onReconnect` fires.
import pg from 'pg';
import type { Logger } from '../session/logger.js';

export interface ListenerOptions {
  url: string;
  channel: string;
  applicationName: string;
  log: Logger;
  onNotify: (payload: string) => void;
  onReconnect: () => void;
  minDelayMs?: number;
  maxDelayMs?: number;
}

export class NotificationListener {
  private client: pg.Client | null = null;
  private drop: ((err?: Error) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private checking = false;
  private closed = false;

  constructor(private readonly opts: ListenerOptions) {
    if (!/^[a-z_][a-z0-9_]*$/.test(opts.channel)) throw new Error(`bad channel name: ${opts.channel}`);
  }

  /** True while LISTEN is in effect (notifications are being received). */
  get connected(): boolean {
    return this.client !== null;
  }

  /** Connects and listens; throws when the first attempt fails (the caller decides). */
  async start(): Promise<void> {
    await this.connectOnce();
  }

  private async connectOnce(): Promise<void> {
    const { url, channel, applicationName, log } = this.opts;
    const client = new pg.Client({
      connectionString: url,
      application_name: applicationName,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    let live = false; // until LISTEN succeeds, failures are the caller's (connect/query reject)
    let dropped = false;
    const drop = (err?: Error): void => {
      if (!live || dropped) return;
      dropped = true;
      if (this.client === client) {
        this.client = null;
        this.drop = null;
      }
      client.removeAllListeners('notification');
      void client.end().catch(() => {});
      if (this.closed) return;
      log.warn('approvals: listener connection lost, reconnecting', { error: err?.message ?? 'connection ended' });
      this.scheduleReconnect();
    };
    client.on('error', (err) => drop(err));
    client.on('end', () => drop());
    client.on('notification', (m) => {
      if (m.channel === channel && m.payload) this.opts.onNotify(m.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (err) {
      void client.end().catch(() => {});
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    live = true;
    this.client = client;
    this.drop = drop;
    this.attempt = 0;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    const min = this.opts.minDelayMs ?? 100;
    const max = this.opts.maxDelayMs ?? 5_000;
    const base = Math.min(max, min * 2 ** this.attempt);
    this.attempt++;
    const delay = base / 2 + Math.random() * (base / 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connectOnce().then(
        () => {
          if (this.closed) return;
          this.opts.log.info('approvals: listener reconnected', { application_name: this.opts.applicationName });
          this.opts.onReconnect();
        },
        (err: unknown) => {
          this.opts.log.warn('approvals: listener reconnect failed', { error: (err as Error).message });
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.timer.unref();
  }

  /**
   * A silent dead peer (no RST: a network partition, a frozen host) leaves a socket that looks
   * open and receives nothing. A round trip with a deadline finds it; the owner calls this
   * now and then.
   */
  async healthCheck(timeoutMs: number): Promise<void> {
    const client = this.client;
    const drop = this.drop;
    if (!client || !drop || this.checking) return;
    this.checking = true;
    let t: NodeJS.Timeout | undefined;
    try {
      const ok = await Promise.race([
        client.query('SELECT 1').then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((resolve) => {
          t = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
      if (!ok && this.client === client) drop(new Error(`health check failed (no answer within ${timeoutMs} ms)`));
    } finally {
      clearTimeout(t);
      this.checking = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    this.client = null;
    this.drop = null;
    if (client) {
      client.removeAllListeners('notification');
      await client.end().catch(() => {});
    }
  }
}
