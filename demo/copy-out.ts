// COPY ... TO STDOUT with node-postgres. pg runs COPY but drops its data (Query.handleCopyData
// is a no-op; pg-copy-streams is the usual add-on). pg accepts any "submittable" object in
// client.query(): this one sends the statement with the simple protocol and keeps the
// CopyData it receives, as pg-copy-streams' copy-to does.
import type pg from 'pg';

interface Connection {
  query(text: string): void;
  sendCopyFail(message: string): void;
}

export interface CopyOutResult {
  /** The rows as the server sent them (text or CSV lines). */
  text: string;
  /** From the CommandComplete tag (COPY n). */
  rowCount: number | null;
}

class CopyOutQuery {
  private chunks: Buffer[] = [];
  private rowCount: number | null = null;
  private error: Error | null = null;
  readonly done: Promise<CopyOutResult>;
  private settle!: { resolve: (r: CopyOutResult) => void; reject: (e: Error) => void };

  constructor(readonly text: string) {
    this.done = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleCopyData(msg: { chunk: Buffer }): void {
    this.chunks.push(msg.chunk);
  }

  handleCommandComplete(msg: { text: string }): void {
    const m = /^COPY (\d+)$/.exec(msg.text);
    this.rowCount = m ? Number(m[1]) : null;
  }

  handleError(err: Error): void {
    this.error ??= err;
    // The server's ErrorResponse is followed by ReadyForQuery; a lost connection is not.
    if (!('severity' in err)) this.settle.reject(err);
  }

  handleReadyForQuery(): void {
    if (this.error) this.settle.reject(this.error);
    else this.settle.resolve({ text: Buffer.concat(this.chunks).toString('utf8'), rowCount: this.rowCount });
  }

  // A COPY FROM is not what this is for: refuse it on the wire rather than hang.
  handleCopyInResponse(connection: Connection): void {
    connection.sendCopyFail('this client only reads (COPY TO STDOUT)');
  }

  // Anything else a simple query may answer: ignored (a COPY statement answers none of these).
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}

export async function copyOut(client: pg.Client, sql: string): Promise<CopyOutResult> {
  const q = new CopyOutQuery(sql);
  client.query(q as unknown as pg.Submittable);
  return q.done;
}
