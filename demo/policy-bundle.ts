// The demo's policy: the committed default bundle with one data setting changed.
//
// The default policy refuses agents' production changes outside the change window (Monday to
// Friday, 08:00-18:00 UTC), so a demo run in the evening would see its approved DELETE refused
// instead of held. The demo sets `change_window.action: approval` (docs/policy-default.md's own
// example: "agents may change production at night too, with an on-call approval"): outside the
// window the DELETE needs the same on-call approval it needs inside it, and the demo behaves the
// same at any hour. Everything else (the wasm, every rule, every other setting) is the default
// bundle's, byte for byte; only /data.json is rewritten. OPA bundles keep data apart from the
// compiled policy precisely so it can be tuned without rebuilding: no `opa` needed here.
import { readFile, writeFile } from 'node:fs/promises';
import { withBundleData } from '../policies/engine/bundle-data.js';
import { DEFAULT_BUNDLE_PATH } from '../policies/locations.js';

/** The one change, as the dotted data path and its new value (printed in the narrative). */
export const DEMO_POLICY_CHANGE = { key: 'change_window.action', from: 'deny', to: 'approval' } as const;

/**
 * Writes the demo bundle to `out`. Fails (rather than writing a
 * bundle that silently behaves like the default) if the default bundle's data no longer has
 * the setting where this expects it.
 */
export async function writeDemoBundle(out: string, source = DEFAULT_BUNDLE_PATH): Promise<void> {
  const bundle = await withBundleData(await readFile(source), (doc) => {
    const window = (doc as { auditgate_config?: { change_window?: { action?: unknown } } }).auditgate_config?.change_window;
    if (!window || window.action !== DEMO_POLICY_CHANGE.from) {
      throw new Error(`${source}: expected data.auditgate_config.change_window.action to be "${DEMO_POLICY_CHANGE.from}" (got ${JSON.stringify(window?.action)}); the demo does not know this bundle`);
    }
    window.action = DEMO_POLICY_CHANGE.to;
  }, source);
  // Deterministic like the committed bundle: the same default bundle always gives the same
  // demo bundle and the same sha256 in the records.
  await writeFile(out, bundle);
}
