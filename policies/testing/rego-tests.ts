// Rego-native tests (`test_*` rules in *_test.rego files), run against wasm compiled by
// `opa build` with the Node SDK: the engine the gateway uses, not OPA's Go evaluator.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runOpa } from '../opa.js';

export interface RegoTest {
  /** Rego package, e.g. "auditgate.rules.statement_test". */
  pkg: string;
  /** Rule name, e.g. "test_delete_without_where_denied". */
  name: string;
  /** wasm entrypoint path, e.g. "auditgate/rules/statement_test/test_delete_without_where_denied". */
  entrypoint: string;
  file: string;
  line: number;
}

interface AstTerm {
  type: string;
  value: unknown;
}
interface AstRule {
  head: { name?: string; ref?: AstTerm[]; location?: { row: number } };
  location?: { row: number };
}
interface AstModule {
  package: { path: AstTerm[] };
  rules?: AstRule[];
}

export async function findTestFiles(regoDir: string): Promise<string[]> {
  const names = await readdir(regoDir, { recursive: true });
  return names
    .filter((n) => n.endsWith('_test.rego'))
    .sort()
    .map((n) => join(regoDir, n));
}

/** Finds test rules with OPA's own parser (`opa parse`), not by scanning text. */
export async function discoverRegoTests(files: string[], opaBin?: string): Promise<RegoTest[]> {
  const tests: RegoTest[] = [];
  for (const file of files) {
    const ast = JSON.parse(await runOpa(['parse', '--format', 'json', file], { opaBin })) as AstModule;
    const pkgPath = ast.package.path.slice(1).map((t) => String(t.value)); // drop the leading `data`
    const seen = new Set<string>();
    for (const rule of ast.rules ?? []) {
      const ref = rule.head.ref ?? [];
      const name = rule.head.name ?? (ref.length === 1 ? String(ref[0]?.value) : '');
      if (!name.startsWith('test_') || ref.length > 1 || seen.has(name)) continue;
      seen.add(name);
      tests.push({
        pkg: pkgPath.join('.'),
        name,
        entrypoint: [...pkgPath, name].join('/'),
        file,
        line: rule.head.location?.row ?? rule.location?.row ?? 0,
      });
    }
  }
  return tests;
}
