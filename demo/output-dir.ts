// The demo's output folder. It is created, or reused when it is empty or a previous demo's
// output (recognised by its marker file); anything else is refused, so `auditgate demo --out`
// pointed at the wrong folder never deletes someone's files.
import { lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const MARKER_FILE = '.auditgate-demo';

export class OutputDirError extends Error {}

/** The folder's layout: every path the demo writes. */
export interface DemoLayout {
  dir: string;
  config: string;
  bundle: string;
  devIssuer: string;
  segments: string;
  segmentKey: string;
  segmentPublicKey: string;
  packetKey: string;
  packetPublicKey: string;
  directory: string;
  evidenceDb: string;
  packet: string;
  gatewayLog: string;
}

export function demoLayout(dir: string): DemoLayout {
  const d = resolve(dir);
  return {
    dir: d,
    config: join(d, 'auditgate.yaml'),
    bundle: join(d, 'policy', 'auditgate-demo.tar.gz'),
    devIssuer: join(d, 'dev-issuer'),
    segments: join(d, 'segments'),
    segmentKey: join(d, 'keys', 'segment-signing.pem'),
    segmentPublicKey: join(d, 'keys', 'segment-signing.pub.pem'),
    packetKey: join(d, 'keys', 'packet-signing.pem'),
    packetPublicKey: join(d, 'keys', 'packet-signing.pub.pem'),
    directory: join(d, 'directory.json'),
    evidenceDb: join(d, 'evidence.duckdb'),
    packet: join(d, 'packet'),
    gatewayLog: join(d, 'gateway.log'),
  };
}

/** Makes `dir` an empty demo folder (with its marker), or refuses. Returns whether a previous output was replaced. */
export async function prepareOutputDir(dir: string): Promise<{ replaced: boolean }> {
  const d = resolve(dir);
  let entries: string[] | null = null;
  try {
    const st = await lstat(d);
    if (!st.isDirectory()) throw new OutputDirError(`${d} exists and is not a folder: choose another --out`);
    entries = await readdir(d);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (err instanceof OutputDirError) throw err;
      throw new OutputDirError(`cannot use ${d}: ${(err as Error).message}`);
    }
  }
  let replaced = false;
  if (entries && entries.length > 0) {
    if (!entries.includes(MARKER_FILE)) {
      throw new OutputDirError(`${d} is not empty and is not the output of an earlier \`auditgate demo\` (it has no ${MARKER_FILE} file): choose another --out, or empty it`);
    }
    // A previous demo's output: replace it whole (its evidence and keys belong to that run).
    for (const e of entries) if (e !== MARKER_FILE) await rm(join(d, e), { recursive: true, force: true });
    replaced = true;
  }
  await mkdir(d, { recursive: true });
  await writeFile(join(d, MARKER_FILE), 'Written by `auditgate demo`: this folder may be replaced by the next run of the demo.\n');
  return { replaced };
}
