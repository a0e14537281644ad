// Small statistics helpers for benchmark timings (nanoseconds in, readable figures out).

export function percentile(sortedNs: Float64Array | number[], p: number): number {
  if (sortedNs.length === 0) return NaN;
  const i = Math.min(sortedNs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedNs.length) - 1));
  return sortedNs[i]!;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Times `fn` `iterations` times, one sample each; returns sorted samples in ns. */
export function sample(iterations: number, fn: (i: number) => void): Float64Array {
  const out = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    fn(i);
    out[i] = Number(process.hrtime.bigint() - t0);
  }
  return out.sort();
}

export const us = (ns: number) => (ns / 1000).toFixed(1);
