import { describe, expect, it } from '@jest/globals';
import type { StrategyName } from '@keylane/engine';
import {
  evaluateTargets,
  parseCounters,
  summarize,
  type LoadResult,
  type RunResult,
} from '../../src/bench/index.js';
import { emptyCounters } from '../../src/bench/metrics.js';
import { emptyRunResult } from '../../src/bench/run-result.js';
import { cpuMicrosPerOp, generatorMicrosPerOp } from '../../src/bench/cpu.js';
import { overloadFigures, type OverloadMeasurement } from '../../src/bench/overload.js';
import { mergeWindows } from '../../src/bench/peers.js';

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
    readHit: { ...load(1000, 2, 2), engine: { ...emptyCounters(), hits: 1000, cpuSeconds: 0.1 } },
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
      'hop-redis-fleet': { ...load(4_000, 1, 1), serverCpuSeconds: 0.3 },
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
    deployments: null,
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
      'read-hit-path',
      'instance-cpu-per-hit',
      'sdk-cpu-per-get',
      'hot-key-vs-locked',
      'hot-key-vs-cache-aside',
      'embedded-vs-direct',
      'embedded-vs-bentocache-throughput',
      'embedded-vs-bentocache-p99',
      'embedded-stale-reads',
      'overload-goodput',
      'overload-answered',
      'read-heavy-throughput',
      'single-flight-serial',
      'single-flight-serial-guarded',
      'routing-modulo-128',
      'routing-consistent-128',
    ]);
  });

  it('takes the median of per-run ratios', () => {
    const t = byId('read-heavy-throughput');
    expect(t.measured).toMatchObject({ median: 0.9, min: 0.4, max: 0.95 });
    expect(byId('hot-key-vs-locked').measured!.median).toBeGreaterThan(2);
  });

  it('judges an every-run target on its worst run, the others on the median', () => {
    // read-heavy 0.9 [0.4-0.95]x against >= 1.0x every run; hot key vs cache-aside: 21-61x.
    expect(byId('read-heavy-throughput')).toMatchObject({ judgedOn: 'every run', met: false });
    expect(byId('hot-key-vs-cache-aside')).toMatchObject({ judgedOn: 'median', met: true });
    const everyRun = evaluateTargets([run(1, 110, 100, 10, 1), run(2, 99, 100, 10, 1)]);
    const readHeavy = everyRun.find((t) => t.id === 'read-heavy-throughput')!;
    expect(readHeavy.measured!.median).toBeGreaterThan(1);
    expect(readHeavy.met).toBe(false);
  });

  it('reports misses as missed, with the measured value', () => {
    expect(byId('single-flight-serial').measured!.median).toBe(1);
    expect(byId('read-hit-path').measured!.median).toBe(2);
    expect(byId('read-hit-path').met).toBe(false);
    expect(byId('routing-consistent-128')).toMatchObject({
      met: false,
      measured: { median: 1200 },
    });
    expect(byId('routing-modulo-128').met).toBe(true);
  });

  it('prices CPU per request against the bare hop + Redis GET of the same topology', () => {
    // Instances: 0.1 s over 1000 hits = 100 µs; hop servers: 0.3 s over 4000 = 75 µs.
    expect(byId('instance-cpu-per-hit').measured!.median).toBeCloseTo(100 / 75);
    expect(byId('instance-cpu-per-hit').met).toBe(false);
    // The caller: 0.5 cores for 1 s over 1000 gets = 500 µs; over 4000 requests = 125 µs.
    expect(byId('sdk-cpu-per-get').measured!.median).toBeCloseTo(4);
  });

  it('says "not measured" when a section did not run', () => {
    const partial = evaluateTargets([emptyRunResult(1)]);
    expect(partial.every((t) => t.met === null && t.measured === null)).toBe(true);
  });
});

describe('CPU per operation', () => {
  it('divides CPU seconds by the operations, in µs', () => {
    expect(cpuMicrosPerOp(0.25, 5_000)).toBeCloseTo(50);
    expect(cpuMicrosPerOp(0.25, 0)).toBeNaN();
    expect(cpuMicrosPerOp(undefined, 10)).toBeNaN();
  });

  it("turns the generator's cores over a window into µs per operation", () => {
    expect(generatorMicrosPerOp({ generatorCpu: 0.8, durationMs: 3_000, ops: 12_000 })).toBeCloseTo(
      200,
    );
  });

  it('summarizes server and caller CPU for the read hits and the hop ceilings', () => {
    const s = summarize([run(1, 90, 100, 10, 1), run(2, 40, 100, 20, 2)]);
    expect(s.cpu.readHit['serial-guarded']!.serverUs!.median).toBeCloseTo(100);
    expect(s.cpu.readHit['serial-guarded']!.clientUs.median).toBeCloseTo(500);
    expect(s.cpu.ceilings['hop-redis-fleet']!.serverUs!.median).toBeCloseTo(75);
    // A ceiling without server processes of its own has no CPU row.
    expect(s.cpu.ceilings['redis-get']).toBeUndefined();
  });
});

describe('overload', () => {
  const measurement = (
    outcomes: Partial<OverloadMeasurement['outcomes']>,
  ): OverloadMeasurement => ({
    capacity: 1_000,
    callers: 32,
    offeredRate: 2_000,
    requestTimeoutMs: 2_000,
    durationMs: 3_000,
    outcomes: {
      sent: 6_000,
      ok: 2_850,
      overloaded: 3_000,
      deadlineExceeded: 100,
      other: 50,
      firstOther: 'request_timeout',
      ...outcomes,
    },
    latency: load(950).latency,
  });

  it('counts goodput over capacity and the refusals as answers within the deadline', () => {
    const f = overloadFigures(measurement({}));
    expect(f.goodput).toBeCloseTo(950);
    expect(f.goodputOverCapacity).toBeCloseTo(0.95);
    expect(f.answeredWithinDeadline).toBeCloseTo(5_950 / 6_000);
  });

  it('has nothing answered when nothing was sent', () => {
    expect(overloadFigures(measurement({ sent: 0, ok: 0 })).answeredWithinDeadline).toBe(0);
  });

  it('puts both figures in the targets, the share in percent', () => {
    const withOverload = [
      { ...run(1, 90, 100, 10, 1), overload: measurement({}) },
      { ...run(2, 90, 100, 10, 1), overload: measurement({ ok: 2_400, other: 500 }) },
    ];
    const targets = evaluateTargets(withOverload);
    const goodput = targets.find((t) => t.id === 'overload-goodput')!;
    const answered = targets.find((t) => t.id === 'overload-answered')!;
    expect(goodput.measured).toMatchObject({ min: 0.8, max: 0.95 });
    expect(goodput.met).toBe(false);
    expect(answered.unit).toBe('%');
    expect(answered.measured!.max).toBeCloseTo(99.17, 1);
    expect(summarize(withOverload).overload!.outcomes.other).toBe(550);
  });
});

describe('mergeWindows', () => {
  it('adds up the processes of one window and takes percentiles over all their latencies', () => {
    const a = { ...load(1_000), errors: 1, firstError: 'a failed', generatorCpu: 0.25 };
    const b = { ...load(3_000), durationMs: 1_010, generatorCpu: 0.5 };
    const merged = mergeWindows([
      { result: a, latenciesMs: Array.from({ length: 99 }, () => 1) },
      { result: b, latenciesMs: [1, 50] },
    ]);
    expect(merged).toMatchObject({
      ops: 4_000,
      errors: 1,
      firstError: 'a failed',
      throughput: 4_000,
      durationMs: 1_010,
      generatorCpu: 0.75,
    });
    expect(merged.latency.count).toBe(101);
    expect(merged.latency.p50Ms).toBe(1);
    expect(merged.latency.maxMs).toBeCloseTo(50, 1);
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
    expect(
      parseCounters('process_cpu_seconds_total 1.5\nprocess_cpu_user_seconds_total 1\n').cpuSeconds,
    ).toBe(1.5);
  });
});
