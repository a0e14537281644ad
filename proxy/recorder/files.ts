// Where segments live and how they are named: `<gateway_id>.<first_seq, 16 digits>.arrows`
// (an Arrow IPC stream) and its seal `<name>.seal`. Names sort in sequence order per gateway.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export const SEGMENT_EXT = '.arrows';
export const SEAL_EXT = '.seal';
export const GATEWAY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const segmentName = (gatewayId: string, firstSeq: number): string => `${gatewayId}.${String(firstSeq).padStart(16, '0')}${SEGMENT_EXT}`;

export interface SegmentFile {
  name: string;
  path: string;
  gatewayId: string;
  /** First sequence number as the name claims it (the seal and the records are the truth). */
  firstSeq: number;
  sealPath: string;
}

const NAME = /^(.+)\.(\d{16})\.arrows$/;

export function parseSegmentName(dir: string, name: string): SegmentFile | null {
  const m = NAME.exec(name);
  if (!m) return null;
  return { name, path: join(dir, name), gatewayId: m[1]!, firstSeq: Number(m[2]), sealPath: join(dir, name + SEAL_EXT) };
}

/** Segment files in a directory, by gateway then first sequence. */
export async function listSegments(dir: string): Promise<{ segments: SegmentFile[]; strays: string[] }> {
  const names = await readdir(dir);
  const segments: SegmentFile[] = [];
  const strays: string[] = [];
  const present = new Set(names);
  for (const name of names) {
    const s = parseSegmentName(dir, name);
    if (s) segments.push(s);
    else if (name.endsWith(SEAL_EXT) && !present.has(name.slice(0, -SEAL_EXT.length))) strays.push(name);
  }
  segments.sort((a, b) => (a.gatewayId === b.gatewayId ? a.firstSeq - b.firstSeq : a.gatewayId < b.gatewayId ? -1 : 1));
  return { segments, strays };
}
