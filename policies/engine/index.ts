export { PolicyEngine, statementOutcome, DEFAULT_ENGINE_OPTIONS } from './engine.js';
export type { EngineOptions, EngineFailure, Outcome } from './engine.js';
export { PolicyError } from './errors.js';
export type { PolicyErrorCode } from './errors.js';
export { readBundleFile, parseBundle } from './bundle.js';
export type { PolicyBundle } from './bundle.js';
export * from '../contract.js';
