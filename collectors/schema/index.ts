// The evidence database's schema, by concern. Views come last: they read the tables.
import { bundlesSchema } from './bundles.js';
import { entitlementsSchema } from './entitlements.js';
import { identitiesSchema } from './identities.js';
import type { SchemaPart } from './part.js';
import { recordsSchema } from './records.js';
import { viewsSchema } from './views.js';

export type { SchemaPart } from './part.js';
export const SCHEMA_PARTS: SchemaPart[] = [recordsSchema, entitlementsSchema, identitiesSchema, bundlesSchema, viewsSchema];
