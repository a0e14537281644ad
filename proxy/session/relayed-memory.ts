// Large results pass through the gateway as 64 KB socket chunks whose memory is freed only when
// V8 collects the Buffers that point at it, and V8 collects for such external memory only every
// ~64 MB of it: a 1 GiB COPY grew the process by ~170 MB. A minor GC (tens of µs with the
// gateway's small young generation) after every few MB relayed keeps that growth bounded.
import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = (options: { type: 'minor' | 'major' }) => void;

/** Bytes relayed between two minor collections. */
export const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

let gc: Gc | null | undefined;
let relayed = 0;
let collections = 0;

function collector(): Gc | null {
  if (gc === undefined) {
    try {
      // The gc() function exists in contexts created after --expose-gc is set.
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as Gc;
    } catch {
      gc = null; // not available: V8's own schedule applies
    }
  }
  return gc;
}

/** Counts bytes received from the database; collects young garbage every COLLECT_EVERY_BYTES. */
export function noteRelayedBytes(n: number): void {
  relayed += n;
  if (relayed < COLLECT_EVERY_BYTES) return;
  relayed = 0;
  const collect = collector();
  if (collect === null) return;
  collect({ type: 'minor' });
  collections++;
}

/** Minor collections run so far (for tests). */
export const relayedCollections = (): number => collections;
