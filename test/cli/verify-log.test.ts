// auditgate keygen and verify-log as a user runs them: a clean record passes (exit 0), a
// tampered one is reported segment by segment (exit 1), a missing key is a usage error (exit 2).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSegments } from '../../proxy/recorder/files.js';
import { loadSigningKey } from '../../proxy/recorder/keys.js';
import { Recorder } from '../../proxy/recorder/recorder.js';
import { sampleStatement } from '../../proxy/recorder/test-support.js';
import { runCli } from './run-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-vl-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('auditgate keygen + verify-log', () => {
  it('creates a key pair, refuses to overwrite it, and verifies what it sealed', async () => {
    const keyFile = join(dir, 'k.pem');
    const made = await runCli(['keygen', '--out', keyFile]);
    expect(made.code).toBe(0);
    expect(made.stdout).toContain(join(dir, 'k.pub.pem'));
    expect((await runCli(['keygen', '--out', keyFile])).stderr).toMatch(/exists: refusing to overwrite/);

    const segments = join(dir, 'segments');
    const r = await Recorder.open({ directory: segments, gatewayId: 'gw-cli', key: await loadSigningKey(keyFile), durability: 'strict', batchIntervalMs: 50, segmentMaxBytes: 1, segmentMaxAgeMs: 3_600_000, maxPendingRecords: 100 });
    for (let i = 0; i < 3; i++) await r.append(sampleStatement(i));
    await r.close();

    const ok = await runCli(['verify-log', '--segments', segments, '--public-key', join(dir, 'k.pub.pem')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/gateway gw-cli: 3 segments, 3 records \(sequence 1-3\)/);
    expect(ok.stdout).toMatch(/^OK: 3 segments, 3 records/m);

    const seg = (await listSegments(segments)).segments[1]!;
    const b = await readFile(seg.path);
    const at = b.indexOf('customers');
    b[at] = 'C'.charCodeAt(0);
    await writeFile(seg.path, b);
    const bad = await runCli(['verify-log', '--segments', segments, '--public-key', join(dir, 'k.pub.pem')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`FAIL ${seg.name}: digest_mismatch`);
    expect(bad.stdout).toContain(`FAIL ${seg.name}: bad_record`);
    expect(bad.stdout).toMatch(/finding.*: the record is altered or incomplete/);

    const json = await runCli(['verify-log', '--segments', segments, '--public-key', join(dir, 'k.pub.pem'), '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false });
  });

  it('asks for the public key when none is named', async () => {
    const r = await runCli(['verify-log', '--segments', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--public-key FILE/);
  });
});
