// Decisions reused for identical SQL from sessions with identical identity and session
// attributes, under the same bundle, when every statement's decision says `cacheable`.
// Keyed by the exact SQL text, not the fingerprint: fingerprints ignore literals (the role in
// SET ROLE, a COPY PROGRAM command) that a policy may well decide on.
import type { Identity, SessionInfo } from '../../policies/contract.js';

export class DecisionCache<V> {
  private readonly map = new Map<string, V>();
  hits = 0;
  misses = 0;

  private readonly contexts = new Map<string, number>();
  private lastContext = 0;

  constructor(readonly maxEntries: number) {}

  /**
   * A short number standing for a long context (bundle, identity and session attributes), so
   * the key built and hashed for every statement stays short. Each distinct context gets its own
   * number, never reused: when the table is full it starts afresh, and a context seen again
   * gets a new number (its old entries simply stop being found and age out).
   */
  contextId(context: string): number {
    let id = this.contexts.get(context);
    if (id === undefined) {
      if (this.contexts.size >= Math.max(1, this.maxEntries)) this.contexts.clear();
      id = ++this.lastContext;
      this.contexts.set(context, id);
    }
    return id;
  }

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Least recently used goes first: re-insert on hit.
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  set(key: string, value: V): void {
    if (this.maxEntries <= 0) return;
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value!);
  }

  get size(): number {
    return this.map.size;
  }
}

/** Everything a policy sees about the session except its id: computed once per session. */
export function sessionContextKey(identity: Identity, session: SessionInfo): string {
  const { id: _id, ...rest } = session;
  return JSON.stringify([identity, rest]);
}
