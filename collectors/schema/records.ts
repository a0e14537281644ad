import type { SchemaPart } from './part.js';

export const recordsSchema: SchemaPart = { name: 'records', version: 1, statements: [] };
