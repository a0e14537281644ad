// JSON schemas of the two decisions (DESIGN.md policy contract). A policy result that does
// not match is a malformed decision and denies: the gateway never guesses what a policy meant.
import { Ajv } from 'ajv';
import type { ConnectDecision, StatementDecision } from '../contract.js';

const stringArray = { type: 'array', items: { type: 'string' } } as const;

export const connectDecisionSchema = {
  $id: 'https://auditgate.dev/schemas/connect-decision.json',
  type: 'object',
  required: ['allow', 'upstream_role', 'deny', 'read_only', 'max_session_seconds'],
  properties: {
    allow: { type: 'boolean' },
    upstream_role: { type: ['string', 'null'] },
    deny: stringArray,
    read_only: { type: 'boolean' },
    max_session_seconds: { type: 'number', minimum: 0 },
  },
} as const;

export const statementDecisionSchema = {
  $id: 'https://auditgate.dev/schemas/statement-decision.json',
  type: 'object',
  required: ['allow', 'deny', 'approval', 'mask', 'detectors', 'tags'],
  properties: {
    allow: { type: 'boolean' },
    deny: stringArray,
    approval: {
      type: 'object',
      required: ['required', 'approvers', 'reason', 'ttl_seconds'],
      properties: {
        required: { type: 'boolean' },
        approvers: stringArray,
        reason: { type: 'string' },
        ttl_seconds: { type: 'number', minimum: 0 },
        // Distinct approvers needed (N-of-M); absent means 1.
        count: { type: 'integer', minimum: 1 },
      },
    },
    mask: {
      type: 'array',
      items: {
        type: 'object',
        required: ['column', 'method'],
        properties: { column: { type: 'string' }, method: { type: 'string' } },
      },
    },
    detectors: stringArray,
    tags: stringArray,
    cacheable: { type: 'boolean' },
    ignores_literals: { type: 'boolean' },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true });
export const isConnectDecision = ajv.compile<ConnectDecision>(connectDecisionSchema);
export const isStatementDecision = ajv.compile<StatementDecision>(statementDecisionSchema);

export function schemaErrors(validate: { errors?: { instancePath: string; message?: string }[] | null }): string {
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}`.trim()).join('; ');
}
