// The sample auditors test: sessions drawn from the period's population by a seeded hash
// order anyone can recompute (sha256 of "seed:gateway_id:session_id", ascending), so the same
// seed always draws the same sessions and an auditor can re-draw without auditgate.
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlLiteral, type QueryResult } from '../../collectors/query.js';
import { runPacketCopyQuery, type CopyPacketQuery } from '../packet/copy-query.js';
import { runPacketQuery, type PacketQuery, type QueryParams } from '../packet/query-file.js';
import { SAMPLE_POPULATION, samplePopulation } from './queries/populations.js';

export const DEFAULT_SAMPLE_SIZE = 25;

export interface Selection {
  method: string;
  seed: string;
  seed_source: 'given' | 'derived from the population digest';
  population: { description: string; query_id: string; file: string; rows: number; sha256: string };
  size_requested: number;
  size: number;
  draw_query_id: string;
  redraw: string;
  sampled: { sample_no: number; gateway_id: string; session_id: string; subject: string | null; started_at: string | null; transcript: string }[];
}

const drawQuery = (params: QueryParams): PacketQuery => ({
  id: 'sample-draw',
  title: 'The sample: sessions ordered by sha256(seed:gateway_id:session_id), the first N',
  file: 'samples/sample.csv',
  params,
  sql: `WITH pop AS (${SAMPLE_POPULATION}),
keyed AS (SELECT *, sha256($seed || ':' || gateway_id || ':' || session_id) AS draw_key FROM pop)
SELECT row_number() OVER (ORDER BY draw_key, gateway_id, session_id) AS sample_no, draw_key, gateway_id, session_id, started_at, subject
FROM keyed
ORDER BY draw_key, gateway_id, session_id
LIMIT $size`,
});

/**
 * first_seq and last_seq are the session's first and last record on its gateway, found when the
 * packet is written: the range changes nothing in the result (every record of the session lies in
 * it), but lets DuckDB skip the rest of the records table instead of comparing every session id.
 */
const transcriptQuery = (n: number, dir: string, gatewayId: string, sessionId: string, seqs: SeqRange): CopyPacketQuery => ({
  id: `sample-${String(n).padStart(3, '0')}-transcript`,
  title: `Sample ${n}: every record of session ${sessionId} on ${gatewayId}, in order`,
  file: `${dir}/transcript.csv`,
  params: { gateway_id: gatewayId, session_id: sessionId, first_seq: seqs.first, last_seq: seqs.last },
  sql: `SELECT seq, ts, kind, statement_id, subject, identity_kind, database, upstream_role, decision,
  array_to_string(from_json(CASE WHEN json_valid(reasons) THEN reasons END, '["VARCHAR"]'), '; ') AS reasons,
  command_tag, "rows", duration_us, masked, error_sqlstate, approval_id, params_sha256, sql, detail,
  lower(hex(prev_hash)) AS prev_hash, lower(hex(hash)) AS hash
FROM records
WHERE gateway_id = $gateway_id AND session_id = $session_id AND seq BETWEEN CAST($first_seq AS BIGINT) AND CAST($last_seq AS BIGINT)
ORDER BY seq`,
});

interface SeqRange {
  first: number;
  last: number;
}

/** Each session's first and last record sequence number, in one scan of records for all of them. */
async function seqRanges(conn: DuckDBConnection, sessions: { gatewayId: string; sessionId: string }[]): Promise<Map<string, SeqRange>> {
  const ranges = new Map<string, SeqRange>();
  if (sessions.length === 0) return ranges;
  const keys = sessions.map((s) => `(${sqlLiteral(s.gatewayId)}, ${sqlLiteral(s.sessionId)})`).join(', ');
  const r = await conn.runAndReadAll(`SELECT r.gateway_id, r.session_id, min(r.seq), max(r.seq)
    FROM records r JOIN (VALUES ${keys}) k(gateway_id, session_id) ON r.gateway_id = k.gateway_id AND r.session_id = k.session_id
    GROUP BY ALL`);
  for (const [g, sid, first, last] of r.getRows()) ranges.set(`${g}\u0000${sid}`, { first: Number(first), last: Number(last) });
  return ranges;
}

/** A folder name for a sampled session: its number and a filesystem-safe form of its id. */
const sampleDir = (n: number, sessionId: string) => `samples/${String(n).padStart(3, '0')}-${sessionId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64)}`;

export async function drawSample(
  conn: DuckDBConnection,
  outDir: string,
  base: QueryParams,
  opts: { size: number; seed?: string; onQuery?: (id: string) => void },
): Promise<{ selection: Selection; draw: QueryResult }> {
  const pop = await runPacketCopyQuery(conn, { ...samplePopulation, params: base }, outDir);
  opts.onQuery?.(pop.id);
  const seed = opts.seed ?? pop.resultSha256.slice(0, 16);
  const draw = await runPacketQuery(conn, drawQuery({ ...base, seed, size: opts.size }), outDir);
  opts.onQuery?.(draw.id);
  const rows = draw.result!.rows;
  const col = (name: string) => draw.result!.columns.indexOf(name);
  const sampled: Selection['sampled'] = [];
  const ranges = await seqRanges(conn, rows.map((r) => ({ gatewayId: String(r[col('gateway_id')]), sessionId: String(r[col('session_id')]) })));
  for (const r of rows) {
    const n = Number(r[col('sample_no')]);
    const gatewayId = String(r[col('gateway_id')]);
    const sessionId = String(r[col('session_id')]);
    const dir = sampleDir(n, sessionId);
    // A sampled session was admitted, so it has at least its start record.
    const seqs = ranges.get(`${gatewayId}\u0000${sessionId}`);
    if (!seqs) throw new Error(`sampled session ${sessionId} on ${gatewayId} has no records: the evidence database changed while the packet was written`);
    const t = await runPacketCopyQuery(conn, transcriptQuery(n, dir, gatewayId, sessionId, seqs), outDir);
    opts.onQuery?.(t.id);
    sampled.push({ sample_no: n, gateway_id: gatewayId, session_id: sessionId, subject: (r[col('subject')] as string | null) ?? null, started_at: (r[col('started_at')] as string | null) ?? null, transcript: t.file });
  }
  const selection: Selection = {
    method: 'seeded hash order: each session of the population gets the key sha256(seed + ":" + gateway_id + ":" + session_id) (hex, UTF-8 input); sessions are sorted by that key ascending and the first N are the sample',
    seed,
    seed_source: opts.seed === undefined ? 'derived from the population digest' : 'given',
    population: { description: 'sessions admitted (connect decision allow) that started in the period', query_id: pop.id, file: pop.file, rows: pop.rowCount, sha256: pop.resultSha256 },
    size_requested: opts.size,
    size: sampled.length,
    draw_query_id: draw.id,
    redraw: `Re-draw with any tool: for each row of ${pop.file}, compute sha256 of "<seed>:<gateway_id>:<session_id>", sort ascending, keep the first ${opts.size}. Or run queries/${draw.id}.sql with the parameters in queries/${draw.id}.meta.json.`,
    sampled,
  };
  return { selection, draw: draw.result! };
}
