/** Small statistics for the benchmarks: nearest-rank percentiles over raw samples. */

export interface Summary {
  n: number;
  p50: number;
  /** Optional: results recorded before it was added lack it. */
  p90?: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile (p in 0..100) of samples; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    mean: samples.length ? samples.reduce((s, v) => s + v, 0) / samples.length : NaN,
    min: samples.length ? Math.min(...samples) : NaN,
    max: samples.length ? Math.max(...samples) : NaN,
  };
}

/** Rounds for reports: 3 significant decimals below 10, 1 decimal above. */
export function round(v: number): number {
  if (!Number.isFinite(v)) return v;
  return Math.abs(v) < 10 ? Math.round(v * 1000) / 1000 : Math.round(v * 10) / 10;
}
