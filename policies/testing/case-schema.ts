// The schema of policy test case files (policies/cases/*.yaml|json), validated with ajv.
// docs/policies.md documents the format with examples.
import { Ajv } from 'ajv';

const identity = {
  type: 'object',
  required: ['subject', 'issuer', 'groups', 'kind'],
  additionalProperties: false,
  properties: {
    subject: { type: 'string' },
    issuer: { type: 'string' },
    groups: { type: 'array', items: { type: 'string' } },
    kind: { enum: ['agent', 'human'] },
    claims: { type: 'object' },
  },
} as const;

const identityRef = { oneOf: [{ type: 'string', minLength: 1 }, identity] } as const;
const stringOrList = { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] } as const;
const stringList = { type: 'array', items: { type: 'string' } } as const;

const session = { type: 'object' } as const;
const time = {
  type: 'object',
  additionalProperties: false,
  properties: { now: { type: 'string' }, hour: { type: 'integer', minimum: 0, maximum: 23 }, weekday: { type: 'string' } },
} as const;

const maskItem = {
  oneOf: [
    { type: 'string' },
    {
      type: 'object',
      required: ['column'],
      additionalProperties: false,
      properties: { column: { type: 'string' }, method: { type: 'string' } },
    },
  ],
} as const;

const expectation = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    outcome: { enum: ['allow', 'deny', 'approval'] },
    deny: stringOrList,
    approval: {
      type: 'object',
      additionalProperties: false,
      properties: { approvers: stringList, reason: { type: 'string' }, ttl_seconds: { type: 'number' } },
    },
    mask: { type: 'array', items: maskItem },
    no_mask: stringList,
    tags: stringList,
    detectors: stringList,
    upstream_role: { type: ['string', 'null'] },
    read_only: { type: 'boolean' },
    max_session_seconds: { type: 'number' },
    cacheable: { type: 'boolean' },
    ignores_literals: { type: 'boolean' },
  },
} as const;

const testCase = {
  type: 'object',
  required: ['name', 'expect'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 },
    entrypoint: { enum: ['statement', 'connect'] },
    identity: identityRef,
    session,
    time,
    sql: { type: 'string' },
    protocol: { enum: ['simple', 'extended'] },
    params: { type: 'array', items: { type: ['string', 'null'] } },
    input: { type: 'object' },
    expect: expectation,
  },
  // A case gives SQL or an explicit input, not both.
  not: { required: ['sql', 'input'], properties: { sql: true, input: true } },
} as const;

const defaults = {
  type: 'object',
  additionalProperties: false,
  properties: { identity: identityRef, session, time },
} as const;

export const caseFileSchema = {
  $id: 'https://auditgate.dev/schemas/policy-cases.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    identities: { type: 'object', additionalProperties: identity },
    defaults,
    cases: { type: 'array', items: testCase },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
export const validateCaseFile = ajv.compile(caseFileSchema);
