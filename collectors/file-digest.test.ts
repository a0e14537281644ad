import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from './file-digest.js';

describe('sha256File', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'auditgate-digest-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  // Sizes around the 4 MiB read: empty, small, exactly one piece, pieces plus a tail.
  for (const size of [0, 1, 1000, 4 << 20, (9 << 20) + 7]) {
    it(`hashes a file of ${size} bytes as sha256 of its content`, async () => {
      const data = randomBytes(size);
      const path = join(dir, `f-${size}`);
      await writeFile(path, data);
      expect(await sha256File(path)).toEqual({ sha256: createHash('sha256').update(data).digest('hex'), bytes: size });
    });
  }

  it('rejects for a missing file', async () => {
    await expect(sha256File(join(dir, 'missing'))).rejects.toThrow(/ENOENT/);
  });
});
