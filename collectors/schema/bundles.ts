import type { SchemaPart } from './part.js';

export const bundlesSchema: SchemaPart = { name: 'bundles', version: 1, statements: [] };
