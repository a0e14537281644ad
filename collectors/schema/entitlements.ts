import type { SchemaPart } from './part.js';

export const entitlementsSchema: SchemaPart = { name: 'entitlements', version: 1, statements: [] };
