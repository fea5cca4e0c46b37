import { describe, expect, it } from '@jest/globals';
import type { StrategyName } from '@keylane/engine';
import { evaluateTargets, parseCounters, type LoadResult, type RunResult } from '../src/index.js';

function load(throughput: number, p99Ms = 1, meanMs = 1): LoadResult {
  return {
    ops: throughput,
    errors: 0,
    firstError: null,
    durationMs: 1000,
    throughput,
    generatorCpu: 0.5,
    latency: {
      count: throughput,
      meanMs,
      p50Ms: meanMs,
      p90Ms: p99Ms,
      p99Ms,
      p999Ms: p99Ms,
      maxMs: p99Ms,
    },
  };
}

function strategyRun(
  strategy: StrategyName,
  readHeavy: number,
  hotKey: number,
  p99: number,
  dbReads: number,
) {
  const phase = (t: number) => ({ ...load(t, p99), engine: null });
  return {
    strategy,
    workloads: {
      closed: { 'read-heavy': phase(readHeavy), balanced: phase(1), 'hot-key': phase(hotKey) },
      open: { 'read-heavy': load(100, p99), balanced: load(100, p99), 'hot-key': load(100, p99) },
    },
    readHit: { ...load(1000, 2, 2), engine: null },
    singleFlight: {
      rounds: 3,
      burst: 16,
      meanDbReadsPerInvalidation: dbReads,
      maxDbReadsPerInvalidation: dbReads,
      perInstance: [dbReads],
      errors: 0,
    },
    fleetStartMs: 1,
  };
}

function run(
  index: number,
  sg: number,
  ca: number,
  locked: number,
  serialReads: number,
): RunResult {
  return {
    run: index,
    ceilings: {
      'redis-get': load(10_000, 1, 0.5),
      'http-hop': load(5_000, 1, 0.5),
      'pg-select': load(1_000),
    },
    strategies: [
      strategyRun('serial-guarded', sg, 2 * locked + 1, 10, 1),
      strategyRun('cache-aside', ca, 1, 10, 16),
      strategyRun('locked', 1, locked, 10, 1),
      strategyRun('serial', 1, 1, 10, serialReads),
    ],
    direct: null,
    embedded: null,
    bentocache: {},
    checked: {},
    errors: [],
    routing: [
      { instances: 128, strategy: 'modulo', wallNs: 150, cpuNs: 140 },
      { instances: 128, strategy: 'consistent', wallNs: 1200, cpuNs: 1100 },
    ],
  };
}

describe('evaluateTargets', () => {
  const targets = evaluateTargets([
    run(1, 90, 100, 10, 1),
    run(2, 40, 100, 20, 2),
    run(3, 95, 100, 30, 1),
  ]);
  const byId = (id: string) => targets.find((t) => t.id === id)!;

  it('states every target of the issue', () => {
    expect(targets.map((t) => t.id)).toEqual([
      'read-heavy-throughput',
      'read-heavy-p99',
      'hot-key-vs-locked',
      'embedded-vs-direct',
      'embedded-vs-bentocache-throughput',
      'embedded-vs-bentocache-p99',
      'embedded-stale-reads',
      'single-flight-serial',
      'single-flight-serial-guarded',
      'read-hit-path',
      'routing-modulo-128',
      'routing-consistent-128',
    ]);
  });

  it('takes the median of per-run ratios', () => {
    const t = byId('read-heavy-throughput');
    expect(t.measured).toMatchObject({ median: 0.9, min: 0.4, max: 0.95 });
    expect(t.met).toBe(true);
    expect(byId('hot-key-vs-locked').measured!.median).toBeGreaterThan(2);
  });

  it('reports misses as missed, with the measured value', () => {
    expect(byId('single-flight-serial').measured!.median).toBe(1);
    expect(byId('read-hit-path').measured!.median).toBe(2);
    expect(byId('read-hit-path').met).toBe(true);
    expect(byId('routing-consistent-128')).toMatchObject({
      met: false,
      measured: { median: 1200 },
    });
    expect(byId('routing-modulo-128').met).toBe(true);
  });

  it('says "not measured" when a section did not run', () => {
    const partial = evaluateTargets([
      { run: 1, ceilings: {}, strategies: [], direct: null,
    embedded: null,
    bentocache: {},
    checked: {}, routing: [], errors: [] },
    ]);
    expect(partial.every((t) => t.met === null && t.measured === null)).toBe(true);
  });
});

describe('parseCounters', () => {
  it('sums every label set of the engine counters and ignores the rest', () => {
    const text = [
      '# HELP keylane_db_reads_total DB reads',
      '# TYPE keylane_db_reads_total counter',
      'keylane_db_reads_total{instance_id="item-1"} 5',
      'keylane_db_reads_total{instance_id="item-2"} 7',
      'keylane_cache_hits_total{instance_id="item-1"} 40',
      'keylane_db_reads_total_other 100',
      'keylane_http_requests_total{route="/v1/items/:id",method="GET",status="200"} 9',
    ].join('\n');
    expect(parseCounters(text)).toMatchObject({ dbReads: 12, hits: 40, reads: 0 });
  });
});
