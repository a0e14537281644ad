// After the session: the same steps an operator runs, in process. Collect the sealed segments
// into the evidence database (verified first), snapshot the embedded database's grants and
// import the identity directory (so the access matrix has names, owners and standing grants),
// write the CC6 packet and verify it with the packet key's public half.
import { writeFile } from 'node:fs/promises';
import { openEvidenceDb } from '../collectors/evidence-db.js';
import { collectEntitlements } from '../collectors/entitlements.js';
import { importIdentities } from '../collectors/identities.js';
import { collectSegments, type CollectResult } from '../collectors/land-segments.js';
import { generateCc6Report, type Cc6Result } from '../reports/cc6/generate.js';
import { verifyPacket, type PacketReport } from '../reports/packet/verify.js';
import { loadPublicKey } from '../proxy/recorder/keys.js';
import { DEMO_AGENT, DEMO_APPROVER } from './agent-session.js';
import type { DemoLayout } from './output-dir.js';

/** The identity directory an IdP export would give: who the subjects in the record are. */
export const DEMO_DIRECTORY = [
  { subject: DEMO_AGENT.subject, display_name: 'Claude (shop maintenance agent)', email: null, kind: 'agent', owner: 'sam.lead@acme.test', groups: DEMO_AGENT.groups, status: 'active' },
  { subject: DEMO_APPROVER.subject, display_name: 'Dana (DBA on call)', email: 'dana.dba@acme.test', kind: 'human', owner: null, groups: DEMO_APPROVER.groups, status: 'active' },
  { subject: 'sam.lead@acme.test', display_name: 'Sam (engineering lead)', email: 'sam.lead@acme.test', kind: 'human', owner: null, groups: ['engineering'], status: 'active' },
];

/** YYYY-MM-DD in UTC. */
export const utcDay = (d: Date): string => d.toISOString().slice(0, 10);

export async function collectEvidence(layout: DemoLayout, opts: { upstreamUrl: string; from: Date }): Promise<{ collect: CollectResult; entitlementSnapshot: string; identities: number }> {
  await writeFile(layout.directory, `${JSON.stringify(DEMO_DIRECTORY, null, 2)}\n`);
  const db = await openEvidenceDb(layout.evidenceDb);
  try {
    const collect = await collectSegments({ directory: layout.segments, db, publicKey: await loadPublicKey(layout.segmentPublicKey) });
    if (!collect.ok || collect.rejected.length > 0 || collect.open.length > 0) {
      const problems = collect.findings.filter((f) => f.severity === 'error' || f.code === 'open').map((f) => `${f.segment ?? '-'}: ${f.code}: ${f.message}`);
      throw new Error(`collecting the demo's segments failed: ${problems.join('; ') || 'see verification_results'}`);
    }
    const ent = await collectEntitlements({ postgres: opts.upstreamUrl, db });
    const ids = await importIdentities({ file: layout.directory, db });
    return { collect, entitlementSnapshot: ent.snapshotId, identities: ids.rowCount };
  } finally {
    db.close();
  }
}

export async function writeAndVerifyPacket(layout: DemoLayout, opts: { from: Date; to: Date }): Promise<{ report: Cc6Result; verify: PacketReport }> {
  // The report creates the packet key on first use, its public half beside it: that file (not
  // the packet's own copy) is what the packet is verified against.
  const report = await generateCc6Report({
    db: layout.evidenceDb,
    from: utcDay(opts.from),
    to: utcDay(opts.to),
    out: layout.packet,
    signingKey: layout.packetKey,
    org: 'Acme Shop (auditgate demo)',
  });
  if (report.publicKeyFile !== layout.packetPublicKey) throw new Error(`the report published its public key as ${report.publicKeyFile}, not ${layout.packetPublicKey}`);
  const verify = await verifyPacket(layout.packet, { publicKey: await loadPublicKey(report.publicKeyFile), dbPath: layout.evidenceDb });
  return { report, verify };
}
