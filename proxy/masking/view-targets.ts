// Reads the output columns' origins out of a view's stored query (pg_rewrite.ev_action, a
// pg_node_tree printed by PostgreSQL's outfuncs). When a view is created, the parser marks each
// target entry with the table OID and attribute number it comes from (resorigtbl/resorigcol, the
// same marking that fills RowDescription); 0 when the entry is an expression, an aggregate, a
// set operation's output, etc. We read only the top-level Query's targetList.

/** Origin of a view column: table (or view) OID and attribute number; null when it is an expression. */
export interface ViewTarget {
  relid: number;
  attnum: number;
}

type Token = { text: string; depth: number };

function* tokens(s: string): Generator<Token> {
  let depth = 0;
  let i = 0;
  const n = s.length;
  while (i < n) {
    const ch = s.charCodeAt(i);
    if (ch === 32 || ch === 10 || ch === 9 || ch === 13) {
      i++;
    } else if (ch === 40 || ch === 123) {
      // ( {
      depth++;
      yield { text: s[i]!, depth };
      i++;
    } else if (ch === 41 || ch === 125) {
      // ) }
      yield { text: s[i]!, depth };
      depth--;
      i++;
    } else if (ch === 34) {
      // "quoted string", backslash escapes
      let j = i + 1;
      while (j < n && s.charCodeAt(j) !== 34) j += s.charCodeAt(j) === 92 ? 2 : 1;
      yield { text: s.slice(i, j + 1), depth };
      i = j + 1;
    } else {
      let j = i;
      while (j < n) {
        const c = s.charCodeAt(j);
        if (c === 92) {
          j += 2;
          continue;
        }
        if (c === 32 || c === 10 || c === 9 || c === 13 || c === 40 || c === 41 || c === 123 || c === 125 || c === 34) break;
        j++;
      }
      yield { text: s.slice(i, j), depth };
      i = j;
    }
  }
}

/**
 * Maps each non-junk output column (resno = the view's attnum) to its origin, or null when the
 * column is not a plain column reference. Returns null when the text is not a single-Query rule
 * action we understand (the caller then treats every column of the view as of unknown origin).
 */
export function parseViewTargets(action: string): Map<number, ViewTarget | null> | null {
  let queryDepth = -1;
  let prev: Token | null = null;
  let inTargetList = false;
  let listDepth = -1;
  let entry: Record<string, string> | null = null;
  let pendingKey: string | null = null;
  const out = new Map<number, ViewTarget | null>();

  for (const tok of tokens(action)) {
    if (queryDepth < 0) {
      if (tok.text === 'QUERY' && prev?.text === '{') queryDepth = prev.depth;
      prev = tok;
      continue;
    }
    if (!inTargetList) {
      if (tok.depth === queryDepth && tok.text === ':targetList') {
        inTargetList = true;
        listDepth = queryDepth + 1;
      } else if (tok.text === '}' && tok.depth === queryDepth) {
        return null; // end of the Query without a targetList
      }
      continue;
    }
    // inside :targetList
    if (listDepth === queryDepth + 1 && tok.depth === queryDepth && tok.text === '<>') return out; // empty list
    if (tok.text === ')' && tok.depth === listDepth) return out;
    const entryDepth = listDepth + 1;
    if (tok.text === '{' && tok.depth === entryDepth) {
      entry = {};
      pendingKey = null;
      continue;
    }
    if (!entry) continue;
    if (tok.text === '}' && tok.depth === entryDepth) {
      if (entry.__node !== 'TARGETENTRY') return null;
      const resno = Number(entry.resno);
      if (!Number.isInteger(resno) || resno <= 0) return null;
      if (entry.resjunk !== 'true') {
        const relid = Number(entry.resorigtbl);
        const attnum = Number(entry.resorigcol);
        out.set(resno, Number.isFinite(relid) && relid > 0 && Number.isFinite(attnum) ? { relid, attnum } : null);
      }
      entry = null;
      continue;
    }
    if (tok.depth !== entryDepth) {
      if (tok.depth > entryDepth && pendingKey) pendingKey = null; // a nested node value (e.g. :expr {...})
      continue;
    }
    if (entry.__node === undefined) {
      entry.__node = tok.text;
    } else if (tok.text.startsWith(':')) {
      pendingKey = tok.text.slice(1);
    } else if (pendingKey) {
      entry[pendingKey] = tok.text;
      pendingKey = null;
    }
  }
  return null;
}
