import type { SchemaPart } from './part.js';

export const identitiesSchema: SchemaPart = { name: 'identities', version: 1, statements: [] };
