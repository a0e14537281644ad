// sha256 and size of a file: the digest the evidence export's manifest and the packets'
// manifests record. Two reused 4 MiB buffers: the next piece is read (on libuv's thread pool)
// while this one is hashed, and no memory is allocated per piece as a read stream does, whose
// fresh buffers' page faults cost more CPU than the hashing on a multi-gigabyte file
// (docs/dependencies.md, "Node's file system calls").
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

const CHUNK = 4 << 20;

export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    let cur = Buffer.allocUnsafe(CHUNK);
    let spare = Buffer.allocUnsafe(CHUNK);
    let bytes = 0;
    // One read in flight at a time, each from where the last ended (position null).
    let reading = fh.read(cur, 0, CHUNK, null);
    for (;;) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      reading = fh.read(spare, 0, CHUNK, null);
      h.update(bytesRead === CHUNK ? cur : cur.subarray(0, bytesRead));
      bytes += bytesRead;
      [cur, spare] = [spare, cur];
    }
    return { sha256: h.digest('hex'), bytes };
  } finally {
    await fh.close();
  }
}
