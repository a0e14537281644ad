// The relay's bound on memory held by relayed chunks: a minor GC every few MB received.
import { describe, expect, it } from 'vitest';
import { COLLECT_EVERY_BYTES, noteRelayedBytes, relayedCollections } from './relayed-memory.js';

describe('noteRelayedBytes', () => {
  it('collects young garbage once per COLLECT_EVERY_BYTES relayed, not per chunk', () => {
    const before = relayedCollections();
    const chunk = 64 * 1024;
    for (let n = 0; n < COLLECT_EVERY_BYTES / chunk - 1; n++) noteRelayedBytes(chunk);
    expect(relayedCollections()).toBe(before);
    noteRelayedBytes(chunk);
    expect(relayedCollections()).toBe(before + 1);
    for (let n = 0; n < (3 * COLLECT_EVERY_BYTES) / chunk; n++) noteRelayedBytes(chunk);
    expect(relayedCollections()).toBe(before + 4);
  });
});
