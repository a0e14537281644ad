import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReplay } from '../cli/commands/replay.js';
import { freshKey } from '../proxy/recorder/test-support.js';
import { openEvidenceDb } from './evidence-db.js';
import { collectSegments } from './land-segments.js';
import { formatUs, sessionTranscript } from './replay.js';
import { record, scriptedWorkload } from './segments.fixtures.js';

let dir: string;
let dbPath: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditgate-replay-'));
  const key = freshKey();
  await record(join(dir, 'segments'), key, scriptedWorkload(), { segmentMaxBytes: 8_000 });
  dbPath = join(dir, 'evidence.duckdb');
  const db = await openEvidenceDb(dbPath);
  expect((await collectSegments({ directory: join(dir, 'segments'), db, publicKey: key.publicKey })).ok).toBe(true);
  db.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function replay(session: string, json = false): Promise<string> {
  let out = '';
  await runReplay({ session, db: dbPath, json }, (t) => (out += t));
  return out;
}

describe('auditgate replay', () => {
  it('prints the session as a transcript: identity, then each statement with its decision, rows, masking and approvals', async () => {
    expect(await replay('sess-agent-1')).toBe(
      [
        'Session sess-agent-1 (gateway gw-1)',
        '  identity   agent:claude-code (agent), issued by https://idp.acme.test',
        '  groups     agents',
        '  claims     model=claude-sonnet-4, repository=acme/shop, ticket=OPS-42',
        '  client     10.0.0.7, psql',
        '  database   shop as auditgate_reader',
        '  connect    allow (policy bundle aaaaaaaaaaaa)',
        '  started    2025-03-03 10:00:01.000000Z   ended 2025-03-03 10:00:18.000000Z, 17.00 s',
        '',
        '2025-03-03 10:00:02.000000Z  #1    ALLOW    SELECT id, email FROM public.customers LIMIT 3',
        '                                            3 rows, 1.5 ms',
        '                                            masked public.customers.email ×3 (email)',
        '                                            detectors email ×1',
        '2025-03-03 10:00:04.000000Z  #2    DENY     DELETE FROM orders',
        '                                            refused: writes need the agent-writers group',
        '                                            not executed',
        "2025-03-03 10:00:05.000000Z  #3    HELD     UPDATE customers SET phone = '555' WHERE id = 7",
        '                                            approval request appr-1',
        '                                            held: approval required: production write',
        '                                            not executed',
        '2025-03-03 10:00:06.000000Z        APPROVAL approval appr-1 requested: approvers dba; production write',
        '2025-03-03 10:00:07.000000Z        APPROVAL approval appr-1 approved: by human:alice; approvers dba',
        '2025-03-03 10:00:08.000000Z        APPROVAL approval appr-1 released',
        "2025-03-03 10:00:09.000000Z  #4    APPROVED UPDATE customers SET phone = '555' WHERE id = 7",
        '                                            released by approval appr-1',
        '                                            1 row, 1.5 ms',
        '2025-03-03 10:00:11.000000Z  #5    ALLOW    SELECT count(*) FROM customers',
        '                                            1 row, 1.5 ms',
        '2025-03-03 10:00:13.000000Z  #6    ALLOW    SELECT ssn FROM public.customers WHERE id = 1',
        '                                            1 row, 1.5 ms',
        '                                            masked public.customers.ssn ×1',
        '2025-03-03 10:00:15.000000Z  #7    ALLOW    SELECT pg_sleep(100)',
        '                                            failed with SQLSTATE 57014, 1.5 ms',
        '2025-03-03 10:00:17.000000Z  #8    ALLOW    SELECT * FROM orders',
        '                                            outcome not recorded (the session or gateway ended before it, or its record is not landed)',
        '2025-03-03 10:00:18.000000Z        END      session ended: client closed the connection',
        '',
        '8 statements: 5 executed, 2 refused or held, 1 without a recorded outcome',
        '',
      ].join('\n'),
    );
  });

  it('prints JSON with --json, and says so when the session is unknown', async () => {
    const t = JSON.parse(await replay('sess-alice-1', true)) as { session: { subject: string; upstreamRole: string }; events: { type: string; decision?: string }[] };
    expect(t.session).toMatchObject({ subject: 'human:alice', upstreamRole: 'auditgate_writer' });
    expect(t.events.map((e) => e.decision ?? e.type)).toEqual(['allow', 'allow', 'deny', 'allow', 'end']);
    await expect(replay('no-such-session')).rejects.toThrow(/no session no-such-session in .*evidence\.duckdb/);
  });

  it('keeps microseconds and multi-line SQL readable', async () => {
    expect(formatUs(1_741_000_000_123_456)).toBe('2025-03-03 11:06:40.123456Z');
    const db = await openEvidenceDb(dbPath, { readOnly: true });
    try {
      const t = await sessionTranscript(db.connection, 'sess-agent-1');
      expect(t!.events.filter((e) => e.type === 'statement')).toHaveLength(8);
    } finally {
      db.close();
    }
  });
});
