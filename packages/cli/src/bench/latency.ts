import * as hdr from 'hdr-histogram-js';

/** Latency percentiles in milliseconds. */
export interface LatencyPercentiles {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export const PERCENTILE_KEYS = ['p50Ms', 'p90Ms', 'p99Ms', 'p999Ms'] as const;
export type PercentileKey = (typeof PERCENTILE_KEYS)[number];

/**
 * An HdrHistogram of latencies recorded in microseconds (3 significant digits), read back in
 * milliseconds. Pure JS (no WebAssembly) so nothing needs an async init.
 */
export class LatencyRecorder {
  private readonly histogram = hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    autoResize: true,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });

  recordMs(latencyMs: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  percentiles(): LatencyPercentiles {
    const h = this.histogram;
    const at = (p: number): number => (h.totalCount === 0 ? 0 : h.getValueAtPercentile(p) / 1000);
    return {
      count: h.totalCount,
      meanMs: h.totalCount === 0 ? 0 : h.mean / 1000,
      p50Ms: at(50),
      p90Ms: at(90),
      p99Ms: at(99),
      p999Ms: at(99.9),
      maxMs: h.totalCount === 0 ? 0 : h.maxValue / 1000,
    };
  }

  destroy(): void {
    this.histogram.destroy();
  }
}
