import { describe, expect, it } from 'vitest';
import { parseViewTargets } from './view-targets.js';

// Shapes printed by PostgreSQL 15 (abridged: fields not read are kept only where they nest).
const VIEW = `({QUERY :commandType 1 :querySource 0 :canSetTag true :utilityStmt <> :resultRelation 0 :cteList <> :rtable ({RANGETBLENTRY :alias {ALIAS :aliasname old :colnames <>} :eref {ALIAS :aliasname old :colnames ("id" "s" "ue" "card\\ number")} :rtekind 0 :relid 16495 :relkind v}) :jointree {FROMEXPR :fromlist ({RANGETBLREF :rtindex 3}) :quals <>} :targetList ({TARGETENTRY :expr {VAR :varno 3 :varattno 1 :vartype 23 :location 407} :resno 1 :resname id :ressortgroupref 0 :resorigtbl 16484 :resorigcol 1 :resjunk false} {TARGETENTRY :expr {VAR :varno 3 :varattno 4 :vartype 25 :location 411} :resno 2 :resname s :ressortgroupref 0 :resorigtbl 16484 :resorigcol 4 :resjunk false} {TARGETENTRY :expr {FUNCEXPR :funcid 871 :args ({VAR :varno 3 :varattno 3 :location 427}) :location 421} :resno 3 :resname ue :ressortgroupref 0 :resorigtbl 0 :resorigcol 0 :resjunk false} {TARGETENTRY :expr {VAR :varno 3 :varattno 5 :location 441} :resno 4 :resname card\\ number :ressortgroupref 0 :resorigtbl 16484 :resorigcol 5 :resjunk false} {TARGETENTRY :expr {VAR :varno 3 :varattno 2} :resno 5 :resname junk :resorigtbl 16484 :resorigcol 2 :resjunk true}) :override 0 :onConflict <> :returningList <> :setOperations <> :stmt_location 369 :stmt_len 115})`;

describe('parseViewTargets', () => {
  it('maps view attnums to their origins; expressions to null; junk entries skipped', () => {
    const t = parseViewTargets(VIEW)!;
    expect([...t.entries()]).toEqual([
      [1, { relid: 16484, attnum: 1 }],
      [2, { relid: 16484, attnum: 4 }],
      [3, null],
      [4, { relid: 16484, attnum: 5 }],
    ]);
  });

  it('does not pick up target lists of nested queries', () => {
    const nested = `({QUERY :rtable ({RANGETBLENTRY :subquery {QUERY :targetList ({TARGETENTRY :resno 1 :resorigtbl 999 :resorigcol 9 :resjunk false})} :relid 0}) :targetList ({TARGETENTRY :expr {VAR :varno 1} :resno 1 :resname x :resorigtbl 0 :resorigcol 0 :resjunk false})})`;
    expect([...parseViewTargets(nested)!.entries()]).toEqual([[1, null]]);
  });

  it('handles quoted strings with parentheses and braces in them', () => {
    const q = `({QUERY :cteList <> :rtable ({RANGETBLENTRY :eref {ALIAS :aliasname x :colnames ("a)b" "c}d" "e\\"f")}}) :targetList ({TARGETENTRY :resno 1 :resname a\\)b :resorigtbl 5 :resorigcol 1 :resjunk false})})`;
    expect([...parseViewTargets(q)!.entries()]).toEqual([[1, { relid: 5, attnum: 1 }]]);
  });

  it('returns null for what it does not understand', () => {
    expect(parseViewTargets('')).toBeNull();
    expect(parseViewTargets('({QUERY :commandType 1})')).toBeNull();
    expect(parseViewTargets('({QUERY :targetList ({RESTARGET :resno 1})})')).toBeNull();
  });
});
