// Loading: its own file, so the module starts unloaded (vitest isolates test files).
import { describe, expect, test } from 'vitest';
import { analyze, analyzerReady, loadAnalyzer } from './index.js';

describe('loadAnalyzer', () => {
  test('analyze() before loadAnalyzer() resolved throws a clear error', () => {
    expect(analyzerReady()).toBe(false);
    expect(() => analyze('select 1')).toThrow('call and await loadAnalyzer() before analyze()');
  });

  test('is idempotent and then analyze() works synchronously', async () => {
    const first = loadAnalyzer();
    expect(loadAnalyzer()).toBe(first);
    await first;
    await loadAnalyzer();
    expect(analyzerReady()).toBe(true);
    expect(analyze('select 1').map((f) => f.kind)).toEqual(['select']);
  });
});
