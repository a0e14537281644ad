#!/usr/bin/env node
// Generates policies/capabilities.json: the builtins a policy may use so that it runs in
// @open-policy-agent/opa-wasm. `opa build -t wasm --capabilities policies/capabilities.json`
// then refuses, at build time, any builtin that would otherwise fail at run time in the
// gateway ("not implemented: built-in function ...").
//
// Kept:
//   - builtins the OPA wasm compiler implements natively: the keys of `builtinsFunctions`
//     in internal/compiler/wasm/wasm.go of the pinned OPA sources (`ast.X.Name` resolved to
//     builtin names through the `var X = &Builtin{Name: "..."}` declarations in
//     v1/ast/builtins.go), plus `eq` and `assign`, which the planner compiles away;
//   - builtins the npm SDK implements in JavaScript (node_modules/@open-policy-agent/
//     opa-wasm/src/builtins/*.js: sprintf, regex.split, yaml.*, json.is_valid).
// Also kept: the `features` (must include rego_v1) and `future_keywords` of this OPA, and
// the wasm ABI the SDK needs (1.2+: its opa_eval fast path).
//
// Usage: node scripts/gen-capabilities.mjs [--out FILE] [--check] [--verbose]
//   --check    exit 1 when FILE differs from what would be generated (for CI)
//   --verbose  list the excluded builtins
// Environment: OPA_BIN (opa binary; default .tools/bin/opa, then opa on PATH),
//              OPA_SRC (the OPA Go module directory; default: the Go module cache entry for
//              the binary's version), OPA_WASM_SDK (the SDK package directory).
// Plain Node ESM, no dependencies. Output is deterministic (sorted, stable key order).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? resolve(args[i + 1]) : fallback;
};
const outFile = option('--out', join(root, 'policies', 'capabilities.json'));

// The SDK's fast path (opa_eval) needs ABI 1.2; ABI 1.x is the only major it accepts.
const WASM_ABI_VERSIONS = [{ version: 1, minor: 2 }];
// Compiled away by the planner (see IsWasmEnabled in internal/compiler/wasm/wasm.go).
const PLANNER_BUILTINS = ['assign', 'eq'];
// Noise for a capabilities file: documentation only.
const DROP_KEYS = new Set(['description', 'categories']);

function fail(message) {
  console.error(`gen-capabilities: ${message}`);
  process.exit(1);
}

function opaBinary() {
  if (process.env.OPA_BIN) return process.env.OPA_BIN;
  const local = join(root, '.tools', 'bin', 'opa');
  return existsSync(local) ? local : 'opa';
}

function run(bin, argv) {
  try {
    return execFileSync(bin, argv, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    fail(`running ${bin} ${argv.join(' ')} failed: ${err.message}`);
  }
}

function goModCache() {
  if (process.env.GOMODCACHE) return process.env.GOMODCACHE;
  try {
    const out = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
    if (out) return out;
  } catch {
    // no Go toolchain: fall through to the default location
  }
  return join(process.env.GOPATH || join(homedir(), 'go'), 'pkg', 'mod');
}

function opaSources(version) {
  if (process.env.OPA_SRC) return process.env.OPA_SRC;
  const dir = join(goModCache(), 'github.com', 'open-policy-agent', `opa@v${version}`);
  if (!existsSync(dir)) {
    fail(
      `OPA ${version} sources not found at ${dir}; set OPA_SRC to the opa module directory ` +
        `(e.g. run: go mod download github.com/open-policy-agent/opa@v${version})`,
    );
  }
  return dir;
}

function sdkDir() {
  if (process.env.OPA_WASM_SDK) return process.env.OPA_WASM_SDK;
  for (let dir = root; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', '@open-policy-agent', 'opa-wasm');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) fail('node_modules/@open-policy-agent/opa-wasm not found (npm install?)');
  }
}

// `var X = &Builtin{ ... Name: "x.y", ... }` → Map(X → "x.y")
function astBuiltinNames(builtinsGo) {
  const names = new Map();
  const decl = /^var\s+(\w+)\s*=\s*&Builtin\{([\s\S]*?)^\}/gm;
  for (const m of builtinsGo.matchAll(decl)) {
    const name = /^\s*Name:\s*"([^"]+)"/m.exec(m[2]);
    if (name) names.set(m[1], name[1]);
  }
  return names;
}

// Keys of `var builtinsFunctions = map[string]string{ ast.X.Name: "opa_...", ... }`
function wasmNativeIdents(wasmGo) {
  const block = /var\s+builtinsFunctions\s*=\s*map\[string\]string\{([\s\S]*?)^\}/m.exec(wasmGo);
  if (!block) fail('builtinsFunctions map not found in internal/compiler/wasm/wasm.go');
  const idents = [...block[1].matchAll(/^\s*ast\.(\w+)\.Name\s*:/gm)].map((m) => m[1]);
  if (idents.length === 0) fail('builtinsFunctions map has no ast.X.Name keys (format changed?)');
  return idents;
}

// module.exports = { "yaml.marshal": ..., sprintf, ... } in each src/builtins/*.js
function sdkBuiltinNames(dir) {
  const builtinsDir = join(dir, 'src', 'builtins');
  const names = new Set();
  for (const file of readdirSync(builtinsDir).sort()) {
    if (!file.endsWith('.js') || file === 'index.js') continue;
    const src = readFileSync(join(builtinsDir, file), 'utf8');
    const exp = /module\.exports\s*=\s*\{([\s\S]*?)\};/.exec(src);
    if (!exp) fail(`no module.exports object in ${join(builtinsDir, file)}`);
    const body = exp[1].replace(/\/\/.*$/gm, '');
    for (const m of body.matchAll(/["']([\w.]+)["']\s*:/g)) names.add(m[1]);
    // shorthand properties: `{ sprintf }` or `{ sprintf, x: ... }`
    for (const m of body.matchAll(/(?:^|[{,])\s*([A-Za-z_$][\w$]*)\s*(?=,|$)/g)) names.add(m[1]);
  }
  if (names.size === 0) fail(`no builtins found in ${builtinsDir}`);
  return names;
}

function stable(value) {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value).sort()) {
      if (DROP_KEYS.has(key)) continue;
      out[key] = stable(value[key]);
    }
    return out;
  }
  return value;
}

const opa = opaBinary();
const versionOut = run(opa, ['version']);
const version = /^Version:\s*(\S+)/m.exec(versionOut)?.[1];
if (!version) fail(`cannot read the version from \`${opa} version\``);
const current = JSON.parse(run(opa, ['capabilities', '--current']));

const src = opaSources(version);
const astNames = astBuiltinNames(readFileSync(join(src, 'v1', 'ast', 'builtins.go'), 'utf8'));
const native = new Set(PLANNER_BUILTINS);
for (const ident of wasmNativeIdents(readFileSync(join(src, 'internal', 'compiler', 'wasm', 'wasm.go'), 'utf8'))) {
  const name = astNames.get(ident);
  if (!name) fail(`ast.${ident} (in builtinsFunctions) has no \`var ${ident} = &Builtin{Name: ...}\` in v1/ast/builtins.go`);
  native.add(name);
}
const sdk = sdkBuiltinNames(sdkDir());

const available = new Map(current.builtins.map((b) => [b.name, b]));
for (const name of [...native, ...sdk]) {
  if (!available.has(name)) fail(`builtin ${name} is not in \`opa capabilities --current\` of OPA ${version}`);
}

const kept = current.builtins.filter((b) => native.has(b.name) || sdk.has(b.name));
const excluded = current.builtins.filter((b) => !native.has(b.name) && !sdk.has(b.name));
const features = [...(current.features ?? [])].sort();
if (!features.includes('rego_v1')) fail(`OPA ${version} does not report the rego_v1 feature`);

const capabilities = stable({
  builtins: [...kept].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  features,
  future_keywords: [...(current.future_keywords ?? [])].sort(),
  wasm_abi_versions: WASM_ABI_VERSIONS,
});
const text = `${JSON.stringify(capabilities, null, 2)}\n`;

const sdkOnly = [...sdk].filter((n) => !native.has(n)).sort();
const summary =
  `capabilities for OPA ${version}: kept ${kept.length} of ${current.builtins.length} builtins ` +
  `(${native.size} wasm-native incl. ${PLANNER_BUILTINS.join('/')}, ` +
  `${sdkOnly.length} SDK-only: ${sdkOnly.join(', ')}), excluded ${excluded.length}; ` +
  `features: ${features.join(', ')}`;

if (flag('--check')) {
  const existing = existsSync(outFile) ? readFileSync(outFile, 'utf8') : '';
  if (existing !== text) {
    console.error(`${relative(process.cwd(), outFile)} is out of date: run node scripts/gen-capabilities.mjs`);
    process.exit(1);
  }
  console.log(`${relative(process.cwd(), outFile)} is up to date; ${summary}`);
} else {
  writeFileSync(outFile, text);
  console.log(`wrote ${relative(process.cwd(), outFile)}; ${summary}`);
}
if (flag('--verbose')) {
  console.log(`excluded: ${excluded.map((b) => b.name).sort().join(' ')}`);
}
