// `auditgate demo`: the whole pipeline on an embedded PostgreSQL, in this process.
//
//   PGlite (shop) ◀── gateway (default policy, dev issuer, hold mode) ◀── scripted agent (node-postgres)
//   PGlite (control database: approvals)  ◀──┘   └── admin API ◀── approver (a human on call)
//        segments ──▶ collect ──▶ evidence.duckdb ──▶ CC6 packet ──▶ verify
//
// Everything it starts it stops, on success and on failure, unless --keep-running asks it to
// leave the gateway and the approvals page up (until Ctrl-C).
import { appendFileSync } from 'node:fs';
import pg from 'pg';
import { mkdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { loadConfig } from '../proxy/config/load.js';
import { ensureDevIssuer, issueDevToken } from '../proxy/identity/dev-issuer.js';
import { startGateway, type RunningGateway } from '../proxy/server.js';
import { createLogger, type Logger } from '../proxy/session/logger.js';
import { DEMO_AGENT, DEMO_APPROVER, runAgentSession, type DemoIdentity, type StepReport } from './agent-session.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { collectEvidence, writeAndVerifyPacket } from './evidence.js';
import { writeDemoConfig } from './gateway-config.js';
import { classificationFrom, formatHeld, formatIntro, formatKeepRunning, formatStep, formatWhereToLook, seconds } from './narrate.js';
import { demoLayout, prepareOutputDir } from './output-dir.js';
import { DEMO_POLICY_CHANGE, writeDemoBundle } from './policy-bundle.js';
import { DEMO_DATABASE, DEMO_SCHEMA_SQL } from './schema.js';

export interface DemoOptions {
  out: string;
  keepRunning?: boolean;
  /** The narrative (stdout). */
  write: (text: string) => void;
  /** With keepRunning: resolves when the user asks to stop (Ctrl-C). */
  untilStopped?: () => Promise<void>;
}

export interface DemoSummary {
  out: string;
  steps: StepReport[];
  sessionId: string;
  approvalId: string;
  packet: string;
  packetVerified: boolean;
  /** From start to the "where to look" block (without the --keep-running wait). */
  elapsedMs: number;
  phasesMs: Record<string, number>;
}

export class DemoError extends Error {}

/** Runs `fn` as a named phase: timed, and its failure said in the demo's words. */
async function phase<T>(phases: Record<string, number>, name: string, what: string, fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DemoError) throw err;
    throw new DemoError(`${what} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    phases[name] = Math.round(performance.now() - t);
  }
}

async function startBoth(log: Logger): Promise<[EmbeddedPostgres, EmbeddedPostgres]> {
  const onError = (name: string) => (err: Error) => log.warn(`embedded PostgreSQL (${name}): ${err.message}`);
  const [shop, control] = await Promise.allSettled([
    // The gateway's catalog lookups (its pool's application_name, proxy/server.ts) may run inside
    // a session's open transaction, which is waiting for them.
    startEmbeddedPostgres({ name: 'shop database', initSql: DEMO_SCHEMA_SQL, privilegedApplications: ['auditgate-catalog'], onError: onError('shop') }),
    startEmbeddedPostgres({ name: 'control database', onError: onError('control') }),
  ]);
  if (shop.status === 'fulfilled' && control.status === 'fulfilled') return [shop.value, control.value];
  // One failed: stop the other before saying so.
  for (const r of [shop, control]) if (r.status === 'fulfilled') await r.value.stop().catch(() => {});
  throw (shop.status === 'rejected' ? shop.reason : (control as PromiseRejectedResult).reason) as Error;
}

export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  const started = performance.now();
  const startedAt = new Date();
  const phases: Record<string, number> = {};
  const say = (t: string): void => opts.write(t.endsWith('\n') ? t : `${t}\n`);
  const layout = demoLayout(opts.out);
  const rel = (p: string): string => {
    const r = relative(process.cwd(), p);
    return r && !r.startsWith('..') ? r : p;
  };

  // Not a phase: a folder the demo may not use is the user's to fix (OutputDirError, exit 2).
  const { replaced } = await prepareOutputDir(layout.dir);
  // The gateway's own log goes to a file: the terminal is for the story.
  const gatewayLog: Logger = createLogger({ level: 'info', write: (line) => appendFileSync(layout.gatewayLog, `${line}\n`) });

  say('auditgate demo: an AI agent works on a shop database through the gateway.');
  say(`Output: ${rel(layout.dir)}${replaced ? ' (the previous demo output there was replaced)' : ''}\n`);

  let shop: EmbeddedPostgres | null = null;
  let control: EmbeddedPostgres | null = null;
  let gateway: RunningGateway | null = null;
  try {
    // --- set up ------------------------------------------------------------------------------
    [shop, control] = await phase(phases, 'postgres', 'starting the embedded PostgreSQL (PGlite)', () => startBoth(gatewayLog));
    say(`  ✓ embedded PostgreSQL (PGlite) on ${shop.host}:${shop.port} with the demo shop: customers, orders, api_keys`);
    say(`  ✓ a second PGlite on ${control.host}:${control.port} as the approvals control database   ${seconds(phases.postgres!)}`);

    const dev = await ensureDevIssuer(layout.devIssuer);
    const token = (who: DemoIdentity, ttlSeconds = 900): Promise<string> =>
      issueDevToken(dev.dir, { sub: who.subject, groups: who.groups, kind: who.kind, claims: who.claims, ttlSeconds });

    const startGw = async (): Promise<RunningGateway> => startGateway(await loadConfig(layout.config), { log: gatewayLog });
    gateway = await phase(phases, 'gateway', 'starting the gateway', async () => {
      await mkdir(dirname(layout.bundle), { recursive: true });
      await writeDemoBundle(layout.bundle);
      await writeDemoConfig({ layout, dev, upstream: { host: shop!.host, port: shop!.port }, control: { url: control!.url } });
      return startGw();
    });
    const adminUrl = gateway.admin!.url;
    say(`  ✓ gateway on 127.0.0.1:${gateway.address.port}, approvals page ${adminUrl}/   ${seconds(phases.gateway!)}`);
    say(`    policy: the default bundle with ${DEMO_POLICY_CHANGE.key} = ${DEMO_POLICY_CHANGE.to}, so the demo behaves the same at any hour`);
    say('    (by default, agents\' production changes outside Monday-Friday 08:00-18:00 UTC are refused outright)');

    // --- the agent's session -------------------------------------------------------------------
    say(formatIntro(DEMO_AGENT));
    const classification = classificationFrom(gateway.engine.data);
    const running = gateway;
    const session = await phase(phases, 'session', 'the scripted agent session', async () => {
      // What is really stored, read past the gateway on a connection of its own (the wire
      // server schedules it like any other), to show what masking changed.
      const direct = new pg.Client({ connectionString: shop!.url, application_name: 'auditgate-demo-direct' });
      await direct.connect();
      try {
        return await runAgentSession({
          gateway: { host: '127.0.0.1', port: running.address.port },
          database: DEMO_DATABASE,
          adminUrl,
          token: (who) => token(who),
          stored: async (sql, params) => {
            const r = await direct.query({ text: sql, values: params, rowMode: 'array' });
            return { fields: r.fields.map((f) => f.name), rows: r.rows as unknown[][] };
          },
          onHeld: (step, request) => say(formatHeld(step, request)),
          onStep: (step) => say(`${formatStep(step, classification, { continued: step.outcome === 'approved' })}\n`),
        });
      } finally {
        await direct.end().catch(() => {});
      }
    });

    // --- evidence ------------------------------------------------------------------------------
    say('Evidence');
    await phase(phases, 'seal', 'stopping the gateway', async () => {
      const g = gateway!;
      gateway = null;
      await g.close();
    });
    say(`  ✓ gateway stopped: its record is sealed and signed (${rel(layout.segments)}/)`);

    const collected = await phase(phases, 'collect', 'collecting the evidence', () => collectEvidence(layout, { upstreamUrl: shop!.url, from: startedAt }));
    const landed = collected.collect.landed;
    say(
      `  ✓ collected into ${rel(layout.evidenceDb)}: ${landed.length} segment${landed.length === 1 ? '' : 's'} verified (signature, hash chain, sequence) and ${collected.collect.recordsLanded} records landed;`,
    );
    say(`    with a snapshot of the shop database's grants and the identity directory (${collected.identities} identities)   ${seconds(phases.collect!)}`);

    const packet = await phase(phases, 'packet', 'writing and verifying the CC6 packet', () => writeAndVerifyPacket(layout, { from: startedAt, to: new Date() }));
    say(`  ✓ CC6 evidence packet written: ${rel(layout.packet)}/ (${packet.report.files} files, signed with key ${packet.report.keyId.slice(0, 16)})   ${seconds(phases.packet!)}`);
    if (!packet.verify.ok) {
      const findings = packet.verify.findings.map((f) => `${f.code}${f.path ? ` ${f.path}` : ''}: ${f.message}`).join('; ');
      throw new DemoError(`the packet did not verify: ${findings}`);
    }
    say(`  ✓ packet verified: signature by that key, ${packet.verify.files} files, ${packet.verify.rerun} queries re-run against the evidence database`);

    if (!opts.keepRunning) {
      // Stopped before saying so: "nothing is left running" is true when it is printed.
      await phase(phases, 'stop', 'stopping the embedded databases', async () => {
        const both = [shop!, control!];
        shop = control = null;
        await Promise.all(both.map((p) => p.stop()));
      });
    }
    const elapsedMs = Math.round(performance.now() - started);
    say('');
    say(
      formatWhereToLook({
        packetIndex: rel(join(layout.packet, 'index.html')),
        packet: rel(layout.packet),
        packetPublicKey: rel(layout.packetPublicKey),
        evidenceDb: rel(layout.evidenceDb),
        sessionId: session.sessionId,
        config: rel(layout.config),
        gatewayLog: rel(layout.gatewayLog),
      }),
    );
    say('');
    say(`Done in ${seconds(elapsedMs)}.${opts.keepRunning ? '' : ' Nothing is left running.'}`);

    if (opts.keepRunning) {
      // A fresh gateway on the same record (its chain continues), the same databases.
      gateway = await phase(phases, 'restart', 'restarting the gateway', startGw);
      say(
        formatKeepRunning({
          gatewayPort: gateway.address.port,
          adminUrl: gateway.admin!.url,
          database: DEMO_DATABASE,
          agentToken: await token(DEMO_AGENT, 3600),
          devIssuerDir: rel(layout.devIssuer),
          approver: DEMO_APPROVER,
        }),
      );
      await (opts.untilStopped ?? (() => Promise.resolve()))();
      say('Stopping: gateway, approvals page, embedded databases.');
    }

    return {
      out: layout.dir,
      steps: session.steps,
      sessionId: session.sessionId,
      approvalId: session.approvalId,
      packet: layout.packet,
      packetVerified: packet.verify.ok,
      elapsedMs,
      phasesMs: phases,
    };
  } finally {
    await (gateway as RunningGateway | null)?.close().catch(() => {});
    await Promise.all([(shop as EmbeddedPostgres | null)?.stop().catch(() => {}), (control as EmbeddedPostgres | null)?.stop().catch(() => {})]);
  }
}
