// The package's library surface: the policy engine, the statement analyzer and the contract types.
export * from './policies/engine/index.js';
export { analyze, loadAnalyzer } from './proxy/analysis/index.js';
export type * from './proxy/analysis/facts.js';
export { buildBundle } from './policies/build.js';
export { runPolicyTests } from './policies/testing/runner.js';
