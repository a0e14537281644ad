// A TCP tap between a client and the gateway: records every byte the gateway sends the client,
// so tests can assert what the agent really received (not what a driver chose to show).
import { connect, createServer, type AddressInfo, type Server } from 'node:net';

export interface Tap {
  port: number;
  /** Everything the gateway sent to clients through this tap so far. */
  received(): Buffer;
  reset(): void;
  close(): Promise<void>;
}

export async function startTap(targetPort: number): Promise<Tap> {
  let chunks: Buffer[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    client.pipe(upstream);
    upstream.on('data', (d: Buffer) => {
      chunks.push(d);
      client.write(d);
    });
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => Buffer.concat(chunks),
    reset: () => (chunks = []),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
