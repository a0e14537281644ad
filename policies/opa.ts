// Finds and runs the OPA CLI. Only building and testing policies need it; the gateway
// evaluates the committed wasm bundle with Node alone.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { TOOLS_BIN } from './locations.js';

const run = promisify(execFile);

/** The OPA version this project pins (scripts/install-opa installs it). */
export const OPA_VERSION = '1.22.2';

export class OpaNotFoundError extends Error {
  constructor(tried: string[]) {
    super(
      `opa not found (tried ${tried.join(', ')}).\n` +
        `  Install the pinned version with: npm run install-opa   (needs Go >= 1.25)\n` +
        `  or set OPA_BIN=/path/to/opa (v${OPA_VERSION}).`,
    );
    this.name = 'OpaNotFoundError';
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** $OPA_BIN, then the project-local tools dir, then PATH. */
export function findOpa(env: NodeJS.ProcessEnv = process.env): string {
  const tried: string[] = [];
  if (env.OPA_BIN) {
    if (isExecutable(env.OPA_BIN)) return env.OPA_BIN;
    tried.push(`$OPA_BIN=${env.OPA_BIN}`);
  }
  const local = join(TOOLS_BIN, 'opa');
  if (isExecutable(local)) return local;
  tried.push(local);
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'opa'))) return join(dir, 'opa');
  }
  tried.push('PATH');
  throw new OpaNotFoundError(tried);
}

export class OpaCommandError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(`opa ${args[0] ?? ''} failed${exitCode === null ? '' : ` (exit ${exitCode})`}:\n${stderr.trim()}`);
    this.name = 'OpaCommandError';
  }
}

export async function runOpa(args: string[], opts: { cwd?: string; opaBin?: string } = {}): Promise<string> {
  const bin = opts.opaBin ?? findOpa();
  try {
    const { stdout } = await run(bin, args, { cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; code?: number | string };
    throw new OpaCommandError(args, `${e.stderr ?? ''}${e.stdout ?? ''}` || String(err), typeof e.code === 'number' ? e.code : null);
  }
}
