// Shared by the analyzer's test files (not a test itself).
import { beforeAll, expect } from 'vitest';
import type { AnalyzeOptions, StatementFacts } from './facts.js';
import { analyze, loadAnalyzer } from './index.js';

beforeAll(() => loadAnalyzer());

/** Any libpg-query fingerprint. */
export const FP = expect.stringMatching(/^[0-9a-f]{16}$/);

/** Analyzes SQL that must hold exactly one statement and returns its facts. */
export function one(sql: string, opts?: AnalyzeOptions): StatementFacts {
  const all = analyze(sql, opts);
  expect(all).toHaveLength(1);
  return all[0]!;
}
