import type { SchemaPart } from './part.js';

export const viewsSchema: SchemaPart = { name: 'views', version: 1, statements: [] };
