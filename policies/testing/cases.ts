// Loads table-driven policy test cases from YAML/JSON files and validates them with ajv.
// A bad file is an error naming the file and line, never a silently skipped case.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import type { Identity, TimeInfo } from '../contract.js';
import { validateCaseFile } from './case-schema.js';

export interface MaskExpectation {
  column: string;
  method?: string;
}

export interface CaseExpectation {
  outcome?: 'allow' | 'deny' | 'approval';
  deny?: string | string[];
  approval?: { approvers?: string[]; reason?: string; ttl_seconds?: number };
  mask?: (string | MaskExpectation)[];
  no_mask?: string[];
  tags?: string[];
  detectors?: string[];
  upstream_role?: string | null;
  read_only?: boolean;
  max_session_seconds?: number;
  cacheable?: boolean;
  /** The decision holds for statements that differ only in constants (gateway decision cache). */
  ignores_literals?: boolean;
}

export interface PolicyCase {
  name: string;
  entrypoint?: 'statement' | 'connect';
  identity?: string | Identity;
  session?: Record<string, unknown>;
  time?: Partial<TimeInfo>;
  sql?: string;
  protocol?: 'simple' | 'extended';
  params?: (string | null)[];
  input?: Record<string, unknown>;
  expect: CaseExpectation;
}

export interface CaseDefaults {
  identity?: string | Identity;
  session?: Record<string, unknown>;
  time?: Partial<TimeInfo>;
}

export interface LoadedCase extends PolicyCase {
  file: string;
  line: number;
}

export interface CaseFile {
  path: string;
  identities: Record<string, Identity>;
  defaults: CaseDefaults;
  cases: LoadedCase[];
}

export class CaseFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | null,
    detail: string,
  ) {
    super(`${file}${line === null ? '' : `:${line}`}: ${detail}`);
    this.name = 'CaseFileError';
  }
}

/** The file whose identities and defaults every case file in the folder shares. */
export const FIXTURES_FILE = '_fixtures';
const CASE_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export async function loadCaseDir(dir: string): Promise<{ fixtures: CaseFile | null; files: CaseFile[] }> {
  if (!existsSync(dir)) return { fixtures: null, files: [] };
  const names = (await readdir(dir, { recursive: true }))
    .filter((n) => CASE_EXTENSIONS.has(extname(n)))
    .sort();
  let fixtures: CaseFile | null = null;
  const files: CaseFile[] = [];
  for (const name of names) {
    const file = await loadCaseFile(join(dir, name), relative(process.cwd(), join(dir, name)) || name);
    if (basename(name, extname(name)) === FIXTURES_FILE) fixtures = file;
    else files.push(file);
  }
  return { fixtures, files };
}

export async function loadCaseFile(path: string, label = path): Promise<CaseFile> {
  const text = await readFile(path, 'utf8');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const line = first.pos ? lineCounter.linePos(first.pos[0]).line : null;
    throw new CaseFileError(label, line, `not valid YAML/JSON: ${first.message.split('\n')[0]}`);
  }
  const value = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (!validateCaseFile(value)) {
    const err = validateCaseFile.errors?.[0];
    const path = (err?.instancePath ?? '').split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const what = err?.params && 'additionalProperty' in err.params ? ` (${String(err.params.additionalProperty)})` : '';
    throw new CaseFileError(label, lineOf(doc, path, lineCounter), `${err?.instancePath || '(root)'} ${err?.message ?? 'is invalid'}${what}`);
  }
  const cases = ((value.cases ?? []) as PolicyCase[]).map((c, i) => ({
    ...c,
    file: label,
    line: lineOf(doc, ['cases', i], lineCounter) ?? 0,
  }));
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.name)) throw new CaseFileError(label, c.line, `duplicate case name "${c.name}"`);
    seen.add(c.name);
  }
  return {
    path: label,
    identities: (value.identities ?? {}) as Record<string, Identity>,
    defaults: (value.defaults ?? {}) as CaseDefaults,
    cases,
  };
}

/** Line of the deepest node that exists on `path` (errors about missing keys point at the parent). */
function lineOf(doc: Document, path: (string | number)[], lines: LineCounter): number | null {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return null;
}
