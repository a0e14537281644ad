// Small helpers over libpg-query's JSON parse tree.
//
// The tree is protobuf JSON. A `Node` field holds a wrapped node, `{"RangeVar": {...}}`: one key,
// the type name, upper-case first letter. A field typed as one specific struct (e.g.
// DeleteStmt.relation: RangeVar) holds the struct bare, without the wrapper. Default values are
// omitted: false booleans, 0 integers and empty strings do not appear, so `{"ival": {}}` is the
// integer 0 and an absent `is_from` means COPY ... TO.

export type AstObject = { [key: string]: unknown };

export function isObject(value: unknown): value is AstObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The type name of a wrapped node (`{RangeVar: {...}}`), or undefined for anything else. */
export function nodeTypeOf(value: AstObject): string | undefined {
  let type: string | undefined;
  for (const key in value) {
    if (type !== undefined) return undefined; // more than one key: a bare struct
    type = key;
  }
  if (type === undefined) return undefined; // `{}`: an empty placeholder (e.g. RangeFunction's coldeflist)
  const first = type.charCodeAt(0);
  return first >= 65 && first <= 90 ? type : undefined;
}

/** The body of a wrapped node of the given type, or undefined. */
export function unwrap(value: unknown, type: string): AstObject | undefined {
  if (!isObject(value)) return undefined;
  const body = value[type];
  return isObject(body) ? body : undefined;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The strings of a list of `{String: {sval}}` nodes (qualified names, name lists). */
export function stringList(value: unknown): string[] {
  const out: string[] = [];
  for (const item of asArray(value)) {
    const s = unwrap(item, 'String');
    if (s !== undefined) out.push(str(s.sval) ?? '');
  }
  return out;
}

/** `[catalog.][schema.]name` → schema and name; the catalog, when written, is dropped. */
export function qualifiedName(parts: string[]): { schema: string | null; name: string } | null {
  const name = parts[parts.length - 1];
  if (name === undefined) return null;
  return { schema: parts.length >= 2 ? parts[parts.length - 2]! : null, name };
}

/** The text of a constant as written: A_Const, String, Integer, Float, Boolean; null otherwise. */
export function constText(node: unknown): string | null {
  if (!isObject(node)) return null;
  const c = unwrap(node, 'A_Const') ?? node;
  if (c.isnull === true) return null;
  const sval = unwrap(c, 'sval') ?? unwrap(node, 'String');
  if (sval !== undefined) return str(sval.sval) ?? '';
  const ival = unwrap(c, 'ival') ?? unwrap(node, 'Integer');
  if (ival !== undefined) return String(typeof ival.ival === 'number' ? ival.ival : 0);
  const fval = unwrap(c, 'fval') ?? unwrap(node, 'Float');
  if (fval !== undefined) return str(fval.fval) ?? '0';
  const boolval = unwrap(c, 'boolval') ?? unwrap(node, 'Boolean');
  if (boolval !== undefined) return boolval.boolval === true ? 'true' : 'false';
  const bsval = unwrap(c, 'bsval');
  if (bsval !== undefined) return str(bsval.bsval) ?? '';
  return null;
}

export interface DefElem {
  name: string;
  arg: unknown;
}

/** The DefElem options of a statement (`WITH (FORMAT csv)`, `LANGUAGE plpgsql`, EXPLAIN options). */
export function defElems(value: unknown): DefElem[] {
  const out: DefElem[] = [];
  for (const item of asArray(value)) {
    const d = unwrap(item, 'DefElem');
    if (d !== undefined) out.push({ name: str(d.defname) ?? '', arg: d.arg });
  }
  return out;
}

/**
 * PostgreSQL's defGetBoolean: no argument means true; 0/false/off mean false. Anything else is
 * either true or an error in PostgreSQL, so it is read as true (the safe side for ANALYZE).
 */
export function defElemTrue(arg: unknown): boolean {
  if (arg === undefined || arg === null) return true;
  const text = constText(arg);
  if (text === null) return true;
  const lower = text.toLowerCase();
  return !(lower === '0' || lower === 'false' || lower === 'off');
}
