// Every way a policy can fail to give a decision, as one typed error. Callers turn any of
// these into a deny (fail closed); the code says which failure it was for the record.

export type PolicyErrorCode =
  | 'bundle_unreadable' // the file could not be read
  | 'bundle_corrupt' // not a gzip'd tar, or truncated
  | 'bundle_invalid' // a tar without policy.wasm, or data.json that is not JSON, or a wasm the SDK refuses
  | 'entrypoint_missing' // the bundle was not built with this entrypoint
  | 'input_too_large' // the serialised input exceeds the configured bound
  | 'out_of_memory' // wasm memory would grow past its maximum
  | 'evaluation_failed' // the SDK or the policy threw (opa_abort, missing builtin, ...)
  | 'undefined_decision' // the entrypoint produced no result for this input
  | 'malformed_decision'; // the result is not the decision shape the contract requires

export class PolicyError extends Error {
  constructor(
    readonly code: PolicyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PolicyError';
  }
}

/** The SDK throws strings and plain objects as well as Errors: make one readable message. */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === 'string') return thrown;
  if (typeof thrown === 'object' && thrown !== null && typeof (thrown as { message?: unknown }).message === 'string') {
    return (thrown as { message: string }).message;
  }
  try {
    return JSON.stringify(thrown);
  } catch {
    return String(thrown);
  }
}
