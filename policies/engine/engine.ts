// Loads a policy bundle and evaluates its entrypoints with @open-policy-agent/opa-wasm.
// Fail closed: decideConnect/decideStatement never throw; any failure becomes a deny whose
// reason and `error` say what went wrong.
import { createRequire } from 'node:module';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import {
  ENTRYPOINTS,
  type ConnectDecision,
  type ConnectInput,
  type StatementDecision,
  type StatementInput,
} from '../contract.js';
import { parseBundle, readBundleFile, type PolicyBundle } from './bundle.js';
import { isConnectDecision, isStatementDecision, schemaErrors } from './decision-schema.js';
import { PolicyError, describeThrown } from './errors.js';

export interface EngineOptions {
  /** wasm memory in 64 KiB pages. The SDK's default has no maximum: we always set one. */
  memory?: { initial: number; maximum: number };
  /** Largest serialised input accepted, in bytes. */
  maxInputBytes?: number;
}

export const DEFAULT_ENGINE_OPTIONS: Required<EngineOptions> = {
  memory: { initial: 8, maximum: 512 }, // 512 KiB .. 32 MiB
  maxInputBytes: 1024 * 1024,
};

/** What a decision carries when the engine, not the policy, decided (always a deny). */
export interface EngineFailure {
  error?: { code: PolicyError['code']; message: string };
}

export type Outcome = 'allow' | 'deny' | 'approval';

/** DESIGN.md precedence: any deny reason denies; else a required approval holds; else allow. */
export function statementOutcome(d: StatementDecision): Outcome {
  if (d.deny.length > 0) return 'deny';
  if (d.approval.required) return 'approval';
  return d.allow ? 'allow' : 'deny';
}

interface Instance {
  bundle: PolicyBundle;
  module: WebAssembly.Module;
  policy: LoadedPolicy;
}

const encoder = new TextEncoder();
// The SDK's ESM entry exports only loadPolicy (async); the CommonJS entry has loadPolicySync,
// which lets a broken instance be replaced synchronously, between two evaluations.
const { loadPolicySync } = createRequire(import.meta.url)('@open-policy-agent/opa-wasm') as typeof import('@open-policy-agent/opa-wasm');

export class PolicyEngine {
  private current: Instance;

  private constructor(
    instance: Instance,
    private readonly options: Required<EngineOptions>,
  ) {
    this.current = instance;
  }

  static async fromFile(path: string, options: EngineOptions = {}): Promise<PolicyEngine> {
    const opts = { ...DEFAULT_ENGINE_OPTIONS, ...options };
    return new PolicyEngine(instantiate(await readBundleFile(path), opts), opts);
  }

  static async fromBytes(bytes: Buffer, options: EngineOptions = {}, source = '<memory>'): Promise<PolicyEngine> {
    return PolicyEngine.fromBundle(await parseBundle(bytes, source), options);
  }

  static fromBundle(bundle: PolicyBundle, options: EngineOptions = {}): PolicyEngine {
    const opts = { ...DEFAULT_ENGINE_OPTIONS, ...options };
    return new PolicyEngine(instantiate(bundle, opts), opts);
  }

  get bundleSha256(): string {
    return this.current.bundle.sha256;
  }

  /** The bundle's .manifest (revision, roots, wasm entrypoints), if it has one. */
  get manifest(): Record<string, unknown> | null {
    return this.current.bundle.manifest;
  }

  get bundleSource(): string {
    return this.current.bundle.source;
  }

  /** The bundle's data document (e.g. the default policy's masking classification). */
  get data(): unknown {
    return this.current.bundle.data;
  }

  get entrypoints(): string[] {
    return Object.keys(this.current.policy.entrypoints);
  }

  /**
   * Loads the bundle at `path` (default: where the current one came from) and swaps it in
   * only when it loaded completely; a bad bundle leaves the running one in place and throws.
   * Returns whether the bundle changed.
   */
  async reload(path: string = this.current.bundle.source): Promise<boolean> {
    const bundle = await readBundleFile(path);
    if (bundle.sha256 === this.current.bundle.sha256) return false;
    this.current = instantiate(bundle, this.options);
    return true;
  }

  /**
   * Evaluates an entrypoint by name ("statement", "connect" or a full path such as
   * "auditgate/statement") and returns its result. Throws PolicyError.
   */
  evaluate(entrypoint: string, input: unknown): unknown {
    const inst = this.current;
    const name = ENTRYPOINTS[entrypoint as keyof typeof ENTRYPOINTS] ?? entrypoint;
    if (!Object.prototype.hasOwnProperty.call(inst.policy.entrypoints, name)) {
      throw new PolicyError(
        'entrypoint_missing',
        `policy bundle has no entrypoint "${name}" (it has: ${Object.keys(inst.policy.entrypoints).join(', ') || 'none'})`,
      );
    }
    let json: string;
    try {
      json = JSON.stringify(input);
    } catch (err) {
      throw new PolicyError('evaluation_failed', `policy input cannot be serialised: ${describeThrown(err)}`, { cause: err });
    }
    // Pre-serialised input must be an ArrayBuffer for the SDK (FIELD-NOTES); TextEncoder
    // gives a Uint8Array that owns an exact-length buffer.
    const bytes = encoder.encode(json ?? 'null');
    if (bytes.byteLength > this.options.maxInputBytes) {
      throw new PolicyError(
        'input_too_large',
        `policy input is ${bytes.byteLength} bytes, over the ${this.options.maxInputBytes}-byte limit`,
      );
    }
    let resultSet: unknown;
    try {
      resultSet = inst.policy.evaluate(bytes.buffer, name);
    } catch (thrown) {
      // The instance may be left mid-evaluation (aborted, memory grown): start a fresh one.
      this.replaceInstance(inst);
      const message = describeThrown(thrown);
      const oom = thrown instanceof RangeError || /opa_malloc|out of memory|Memory\.grow/i.test(message);
      throw new PolicyError(oom ? 'out_of_memory' : 'evaluation_failed', `policy evaluation of ${name} failed: ${message}`, {
        cause: thrown,
      });
    }
    if (!Array.isArray(resultSet) || resultSet.length === 0) {
      throw new PolicyError('undefined_decision', `policy entrypoint ${name} produced no decision for this input`);
    }
    if (resultSet.length > 1) {
      throw new PolicyError('malformed_decision', `policy entrypoint ${name} produced ${resultSet.length} results, expected one`);
    }
    return (resultSet[0] as { result: unknown }).result;
  }

  decideConnect(input: ConnectInput): ConnectDecision & EngineFailure {
    try {
      const result = this.evaluate('connect', input);
      if (!isConnectDecision(result)) {
        throw new PolicyError('malformed_decision', `connect decision does not match the contract: ${schemaErrors(isConnectDecision)}`);
      }
      const allow = result.allow && result.deny.length === 0 && result.upstream_role !== null;
      return { ...result, allow };
    } catch (err) {
      const e = asPolicyError(err);
      return {
        allow: false,
        upstream_role: null,
        deny: [`policy error (${e.code}): ${e.message}`],
        read_only: true,
        max_session_seconds: 0,
        error: { code: e.code, message: e.message },
      };
    }
  }

  decideStatement(input: StatementInput): StatementDecision & EngineFailure {
    try {
      const result = this.evaluate('statement', input);
      if (!isStatementDecision(result)) {
        throw new PolicyError(
          'malformed_decision',
          `statement decision does not match the contract: ${schemaErrors(isStatementDecision)}`,
        );
      }
      return { ...result, allow: statementOutcome(result) === 'allow' };
    } catch (err) {
      const e = asPolicyError(err);
      return {
        allow: false,
        deny: [`policy error (${e.code}): ${e.message}`],
        approval: { required: false, approvers: [], reason: '', ttl_seconds: 0 },
        mask: [],
        detectors: [],
        tags: ['policy_error'],
        cacheable: false,
        ignores_literals: false,
        error: { code: e.code, message: e.message },
      };
    }
  }

  private replaceInstance(broken: Instance): void {
    try {
      const fresh = instantiate(broken.bundle, this.options, broken.module);
      if (this.current === broken) this.current = fresh;
    } catch {
      // Keep the old instance; the next evaluation will fail (and deny) again if it is unusable.
    }
  }
}

function asPolicyError(err: unknown): PolicyError {
  return err instanceof PolicyError ? err : new PolicyError('evaluation_failed', describeThrown(err), { cause: err });
}

function instantiate(bundle: PolicyBundle, opts: Required<EngineOptions>, compiled?: WebAssembly.Module): Instance {
  try {
    const module = compiled ?? new WebAssembly.Module(bundle.wasm);
    const policy = loadPolicySync(module, { ...opts.memory });
    policy.setData(bundle.data as object);
    return { bundle, module, policy };
  } catch (err) {
    throw new PolicyError('bundle_invalid', `policy bundle ${bundle.source} cannot be loaded: ${describeThrown(err)}`, { cause: err });
  }
}
