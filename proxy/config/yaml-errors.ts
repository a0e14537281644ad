// Turns YAML parse errors and ajv validation errors into "file:line: key.path: message" issues.
// Generic: nothing here knows the gateway config, so any ajv-validated YAML file can use it
// (compile its validator with `verbose: true` for "did you mean" and "got ..." details).
import type { ErrorObject } from 'ajv';
import { LineCounter, isMap, isNode, isScalar, isSeq, parseDocument, type Document } from 'yaml';

export type KeyPath = (string | number)[];

/** One problem in a file: where (line, key path) and what. */
export interface SourceIssue {
  path: KeyPath;
  /** 1-based line in the file, or null when it has no place there (a missing top-level key). */
  line: number | null;
  message: string;
}

export interface ParsedYaml {
  doc: Document;
  lineCounter: LineCounter;
  /** The document as plain JS (null for an empty file); undefined when the YAML is invalid. */
  value: unknown;
  /** The first syntax error, with its line. */
  syntaxError: SourceIssue | null;
}

export function parseYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const line = first.pos ? lineCounter.linePos(first.pos[0]).line : null;
    return {
      doc,
      lineCounter,
      value: undefined,
      syntaxError: { path: [], line, message: `not valid YAML: ${first.message.split('\n')[0]}` },
    };
  }
  return { doc, lineCounter, value: doc.toJS(), syntaxError: null };
}

/**
 * Line of `path` in the document: the line of its key (`roles:` rather than the first line of
 * the map under it), or of its item in a list. When the path does not exist (an error about a
 * missing key), the line of the deepest ancestor that does; null for a missing top-level key.
 */
export function lineOf(doc: Document, lines: LineCounter, path: KeyPath): number | null {
  // A missing top-level key has no line (pointing at line 1 would mislead); the root itself does.
  for (let n = path.length; n >= Math.min(1, path.length); n--) {
    const start = startOf(doc, path.slice(0, n));
    if (start !== null) return lines.linePos(start).line;
  }
  return null;
}

function startOf(doc: Document, path: KeyPath): number | null {
  if (path.length === 0) return isNode(doc.contents) && doc.contents.range ? doc.contents.range[0] : null;
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  const last = path[path.length - 1];
  if (isMap(parent)) {
    const pair = parent.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === last || String(isScalar(p.key) ? p.key.value : p.key) === String(last));
    if (pair && isNode(pair.key) && pair.key.range) return pair.key.range[0];
    return null;
  }
  if (isSeq(parent) && typeof last === 'number') {
    const item = parent.items[last];
    return isNode(item) && item.range ? item.range[0] : null;
  }
  return null;
}

/** `upstream.roles.reader`, `identity.issuers[0].algorithms[1]`. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out;
}

/** ajv's instancePath (`/a/0/b`) as a key path. */
export function instancePathToKeyPath(instancePath: string): KeyPath {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/** The closest candidate to a misspelt word, when one is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const allowed = Math.max(1, Math.floor(word.length / 3));
  return best !== null && bestDistance <= allowed ? best : null;
}

function editDistance(a: string, b: string): number {
  // Damerau-Levenshtein (optimal string alignment): a swapped pair of letters is one edit.
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** A value as it appears in a message: strings quoted, long values cut. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
  null: 'null',
};

const quoteList = (xs: readonly unknown[]) => xs.map((x) => (typeof x === 'string' ? `"${x}"` : String(x)));

function joinOr(xs: readonly string[]): string {
  if (xs.length <= 1) return xs.join('');
  return `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;
}

function joinAnd(xs: readonly string[]): string {
  if (xs.length <= 1) return xs.join('');
  return `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

/** The keys named by `oneOf`/`not` branches of the form `{required: [key]}`, or null. */
function requiredKeys(schema: unknown): string[] | null {
  const branches = Array.isArray(schema) ? schema : [schema];
  const keys: string[] = [];
  for (const b of branches) {
    const req = (b as { required?: unknown } | null)?.required;
    if (!Array.isArray(req) || Object.keys(b as object).length !== 1) return null;
    keys.push(...(req as string[]));
  }
  return keys;
}

/** A file-specific message for an error, or undefined for the generic one. */
export type ExplainError = (error: ErrorObject, path: KeyPath) => string | undefined;

/**
 * ajv errors as issues with a key path and a plain-language message. Errors inside a failed
 * `oneOf`/`anyOf`/`not` are folded into the one error about it.
 */
export function describeAjvErrors(errors: readonly ErrorObject[], explain?: ExplainError): { path: KeyPath; message: string }[] {
  const combinators = errors.filter((e) => ['oneOf', 'anyOf', 'not'].includes(e.keyword));
  // A value of the wrong type makes every other rule about it noise.
  const wrongType = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const kept = errors.filter(
    (e) =>
      !combinators.some((c) => c !== e && e.schemaPath.startsWith(`${c.schemaPath}/`)) &&
      (e.keyword === 'type' || !wrongType.has(e.instancePath)),
  );
  const out: { path: KeyPath; message: string }[] = [];
  const seen = new Set<string>();
  for (const e of kept) {
    const generic = describeAjvError(e);
    const d = { path: generic.path, message: explain?.(e, generic.path) ?? generic.message };
    const key = `${formatKeyPath(d.path)}\0${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

export function describeAjvError(e: ErrorObject): { path: KeyPath; message: string } {
  const path = instancePathToKeyPath(e.instancePath);
  const got = 'data' in e ? ` (got ${describeValue(e.data)})` : '';
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys((e.parentSchema?.properties as Record<string, unknown> | undefined) ?? {});
      const guess = didYouMean(key, known);
      const hint = guess ? ` (did you mean "${guess}"?)` : known.length ? ` (known keys: ${known.join(', ')})` : '';
      return { path: [...path, key], message: `unknown key${hint}` };
    }
    case 'required': {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      return { path: [...path, key], message: 'required key is missing' };
    }
    case 'type': {
      const types = ([] as string[]).concat((e.params as { type: string | string[] }).type);
      return { path, message: `must be ${joinOr(types.map((t) => TYPE_NAMES[t] ?? t))}${got}` };
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      const guess = typeof e.data === 'string' ? didYouMean(e.data, allowed.filter((a): a is string => typeof a === 'string')) : null;
      const hint = guess ? ` — did you mean "${guess}"?` : '';
      return { path, message: `must be one of ${quoteList(allowed).join(', ')}${got}${hint}` };
    }
    case 'const':
      return { path, message: `must be ${describeValue((e.params as { allowedValue: unknown }).allowedValue)}${got}` };
    case 'oneOf': {
      const keys = requiredKeys(e.schema);
      if (keys) {
        const present = keys.filter((k) => e.data !== null && typeof e.data === 'object' && k in e.data);
        const gotKeys = present.length ? joinAnd(present) : 'none';
        return { path, message: `must have exactly one of ${keys.join(', ')} (got ${gotKeys})` };
      }
      return { path, message: 'must match exactly one of the allowed forms' };
    }
    case 'not': {
      const keys = requiredKeys(e.schema);
      if (keys) return { path, message: `must not have both ${joinAnd(keys)}` };
      return { path, message: 'is not allowed here' };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const p = e.params as { comparison: string; limit: number };
      return { path, message: `must be ${p.comparison} ${p.limit}${got}` };
    }
    case 'minLength':
      return { path, message: (e.params as { limit: number }).limit === 1 ? 'must not be empty' : `${e.message ?? 'is too short'}` };
    case 'minItems': {
      const n = (e.params as { limit: number }).limit;
      return { path, message: `must have at least ${n} item${n === 1 ? '' : 's'}` };
    }
    case 'minProperties': {
      const n = (e.params as { limit: number }).limit;
      return { path, message: `must have at least ${n} entr${n === 1 ? 'y' : 'ies'}` };
    }
    case 'uniqueItems': {
      const p = e.params as { i: number; j: number };
      return { path, message: `must not repeat an item (items ${p.j} and ${p.i} are equal)` };
    }
    case 'pattern':
      return { path, message: `must match ${String((e.params as { pattern: string }).pattern)}${got}` };
    default:
      return { path, message: `${e.message ?? 'is invalid'}${got}` };
  }
}
