import type { StrategyName } from '@keylane/engine';
import type { CeilingName } from './ceilings.js';
import { CEILING_NAMES } from './ceilings.js';
import type { LoadResult } from './load.js';
import { PERCENTILE_KEYS, type PercentileKey } from './latency.js';
import { BENTOCACHE_SETUPS } from './bentocache-target.js';
import type { WorkloadResults } from './phases.js';
import type { RunResult } from './run-result.js';
import {
  BENTOCACHE,
  DIRECT,
  EMBEDDED,
  type BentocacheName,
  type InProcessName,
  type SystemName,
} from './system-names.js';
import { ratioSpread, spread, type Spread } from './stats.js';
import { cpuMicrosPerOp, generatorMicrosPerOp } from './cpu.js';
import { FLEET_SIZE } from './fleet-bench.js';
import {
  PEER_KEYS,
  PEER_PROCESSES,
  PEER_READ_SHARE,
  PEER_SYSTEMS,
  type PeerSystem,
} from './peers.js';
import {
  OVERLOAD_FACTOR,
  overloadFigures,
  type OverloadMeasurement,
  type OverloadOutcomes,
} from './overload.js';
import { WORKLOAD_NAMES, type WorkloadName } from './workloads.js';

// The systems' names live in system-names.ts (run-result.ts needs them without this module).
export { BENTOCACHE, DIRECT, EMBEDDED, type BentocacheName, type InProcessName, type SystemName };

export interface LoadSpread {
  throughput: Spread;
  meanMs: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  /** CPU cores the load generator used during the window. */
  generatorCpu: Spread;
  /** Failed operations summed over the runs. */
  errors: number;
}

export interface BenchSummary {
  ceilings: Partial<Record<CeilingName, LoadSpread>>;
  /** Closed loop, per system and workload. */
  closed: Partial<Record<SystemName, Partial<Record<WorkloadName, LoadSpread>>>>;
  /** Open loop (coordinated-omission corrected), per system and workload. */
  open: Partial<
    Record<
      SystemName,
      Partial<
        Record<WorkloadName, Record<PercentileKey, Spread> & { errors: number; throughput: Spread }>
      >
    >
  >;
  /** Engine counters of the closed loops, per strategy and workload (medians over runs). */
  engine: Partial<
    Record<
      StrategyName | typeof EMBEDDED,
      Partial<Record<WorkloadName, { hitRatio: Spread; dbReadsPerOp: Spread }>>
    >
  >;
  readHit: Partial<Record<StrategyName, LoadSpread & { hitRatio: Spread | null }>>;
  singleFlight: Partial<Record<StrategyName, { maxPerInstance: Spread; mean: Spread }>>;
  /** Checked runs under the demo's injected delays, per in-process system. */
  checked: Partial<Record<InProcessName, { ops: Spread; violations: Spread }>>;
  routing: { instances: number; strategy: string; wallNs: Spread; cpuNs: Spread }[];
  /** Routed vs embedded on one hot key (section `deployments`); null when it did not run. */
  deployments: Record<'routed' | 'embedded', DeploymentSpread> | null;
  /** CPU µs per request of the serving processes and of the caller, where both were measured. */
  cpu: {
    readHit: Partial<Record<StrategyName, CpuSpread>>;
    ceilings: Partial<Record<CeilingName, CpuSpread>>;
  };
  /** The hot key offered twice its capacity (section `overload`); null when it did not run. */
  overload: OverloadSpread | null;
  /** Each peer system in PEER_PROCESSES caller processes (section `peers`), windows merged. */
  peers: Partial<
    Record<
      PeerSystem,
      LoadSpread & {
        openP50Ms: Spread;
        openP99Ms: Spread;
        openThroughput: Spread;
        openErrors: number;
      }
    >
  >;
  targets: TargetVerdict[];
}

export interface CpuSpread {
  /** CPU µs per request of the serving processes, summed over them; null when not measured. */
  serverUs: Spread | null;
  /** CPU µs per request of the caller (the bench process). */
  clientUs: Spread;
}

export interface OverloadSpread {
  capacity: Spread;
  offeredRate: Spread;
  goodput: Spread;
  goodputOverCapacity: Spread;
  answeredWithinDeadline: Spread;
  /** Of the ok answers, from their intended send time. */
  p99Ms: Spread;
  /** Summed over the runs. */
  outcomes: Omit<OverloadOutcomes, 'firstOther'>;
  firstOther: string | null;
  requestTimeoutMs: number;
}

export interface DeploymentSpread {
  holders: number;
  lanes: number;
  pgConnections: Spread;
  dbReadsPerExpiry: Spread;
  maxDbReadsPerExpiry: Spread;
}

export interface TargetVerdict {
  id: string;
  /** The target as the issue states it. */
  statement: string;
  /** What was compared, e.g. "serial-guarded / cache-aside closed-loop ops/s, read-heavy". */
  measure: string;
  comparison: '>=' | '<=' | '<';
  bound: number;
  /** Median over runs (with min and max); null when the sections it needs did not run. */
  measured: Spread | null;
  unit: 'x' | 'ns' | 'DB reads' | 'stale reads' | '%';
  /**
   * What the verdict is taken on: the median over runs, or (`every run`) the worst run, for a
   * target that must hold in each.
   */
  judgedOn: 'median' | 'every run';
  /** null: not measured in this run. */
  met: boolean | null;
}

function loadSpread(results: readonly LoadResult[]): LoadSpread {
  return {
    throughput: spread(results.map((r) => r.throughput)),
    meanMs: spread(results.map((r) => r.latency.meanMs)),
    p50Ms: spread(results.map((r) => r.latency.p50Ms)),
    p99Ms: spread(results.map((r) => r.latency.p99Ms)),
    generatorCpu: spread(results.map((r) => r.generatorCpu ?? 0)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  };
}

/** Systems with Keylane's engine inside, whose counters the summary reads. */
function runsAnEngine(system: SystemName): system is StrategyName | typeof EMBEDDED {
  return system !== DIRECT && !(Object.values(BENTOCACHE) as string[]).includes(system);
}

function present<T>(values: readonly (T | null | undefined)[]): T[] {
  return values.filter((v): v is T => v !== null && v !== undefined);
}

/** Medians, spreads and the targets from the raw runs. Pure: no I/O. */
export function summarize(runs: readonly RunResult[]): BenchSummary {
  const summary: BenchSummary = {
    ceilings: {},
    closed: {},
    open: {},
    engine: {},
    readHit: {},
    singleFlight: {},
    checked: {},
    routing: [],
    deployments: null,
    cpu: { readHit: {}, ceilings: {} },
    overload: null,
    peers: {},
    targets: [],
  };
  const inProcess: InProcessName[] = [
    DIRECT,
    EMBEDDED,
    ...BENTOCACHE_SETUPS.map((b) => BENTOCACHE[b]),
  ];
  for (const name of inProcess) {
    const checked = present(runs.map((r) => r.checked[name]));
    if (checked.length > 0) {
      summary.checked[name] = {
        ops: spread(checked.map((c) => c.ops)),
        violations: spread(checked.map((c) => c.violations)),
      };
    }
  }
  for (const name of CEILING_NAMES) {
    const results = present(runs.map((r) => r.ceilings[name]));
    if (results.length > 0) summary.ceilings[name] = loadSpread(results);
  }
  const strategies = [...new Set(runs.flatMap((r) => r.strategies.map((s) => s.strategy)))];
  const systems: SystemName[] = [
    ...strategies,
    DIRECT,
    EMBEDDED,
    ...BENTOCACHE_SETUPS.map((b) => BENTOCACHE[b]),
  ];
  const workloadsOf = (run: RunResult, system: SystemName): WorkloadResults | null => {
    if (system === DIRECT) return run.direct;
    if (system === EMBEDDED) return run.embedded;
    const setup = BENTOCACHE_SETUPS.find((b) => BENTOCACHE[b] === system);
    if (setup) return run.bentocache[setup] ?? null;
    return run.strategies.find((s) => s.strategy === system)?.workloads ?? null;
  };

  for (const system of systems) {
    for (const workload of WORKLOAD_NAMES) {
      const closed = present(runs.map((r) => workloadsOf(r, system)?.closed[workload]));
      if (closed.length > 0) (summary.closed[system] ??= {})[workload] = loadSpread(closed);
      const open = present(runs.map((r) => workloadsOf(r, system)?.open[workload]));
      if (open.length > 0) {
        const percentiles = Object.fromEntries(
          PERCENTILE_KEYS.map((key) => [key, spread(open.map((r) => r.latency[key]))]),
        ) as Record<PercentileKey, Spread>;
        (summary.open[system] ??= {})[workload] = {
          ...percentiles,
          throughput: spread(open.map((r) => r.throughput)),
          errors: open.reduce((sum, r) => sum + r.errors, 0),
        };
      }
      if (runsAnEngine(system)) {
        const engines = present(closed.map((r) => r.engine));
        if (engines.length > 0) {
          (summary.engine[system] ??= {})[workload] = {
            hitRatio: spread(engines.map((e) => (e.reads > 0 ? e.hits / e.reads : 0))),
            dbReadsPerOp: spread(
              engines.map((e) => (e.reads + e.writes > 0 ? e.dbReads / (e.reads + e.writes) : 0)),
            ),
          };
        }
      }
    }
  }
  for (const strategy of strategies) {
    const runsOf = present(runs.map((r) => r.strategies.find((s) => s.strategy === strategy)));
    const readHit = present(runsOf.map((s) => s.readHit));
    if (readHit.length > 0) {
      const engines = present(readHit.map((r) => r.engine));
      summary.readHit[strategy] = {
        ...loadSpread(readHit),
        hitRatio:
          engines.length > 0
            ? spread(engines.map((e) => (e.reads > 0 ? e.hits / e.reads : 0)))
            : null,
      };
    }
    const flights = present(runsOf.map((s) => s.singleFlight));
    if (flights.length > 0) {
      summary.singleFlight[strategy] = {
        maxPerInstance: spread(flights.map((f) => f.maxDbReadsPerInvalidation)),
        mean: spread(flights.map((f) => f.meanDbReadsPerInvalidation)),
      };
    }
  }
  const deployments = present(runs.map((r) => r.deployments));
  if (deployments.length > 0) {
    const of = (kind: 'routed' | 'embedded'): DeploymentSpread => ({
      holders: deployments[0]![kind].holders,
      lanes: deployments[0]![kind].lanes,
      pgConnections: spread(deployments.map((d) => d[kind].pgConnections)),
      dbReadsPerExpiry: spread(deployments.map((d) => d[kind].dbReadsPerExpiry)),
      maxDbReadsPerExpiry: spread(deployments.map((d) => d[kind].maxDbReadsPerExpiry)),
    });
    summary.deployments = { routed: of('routed'), embedded: of('embedded') };
  }
  const routingKeys = [
    ...new Set(runs.flatMap((r) => r.routing.map((m) => `${m.instances}/${m.strategy}`))),
  ];
  for (const key of routingKeys) {
    const ms = runs.flatMap((r) => r.routing.filter((m) => `${m.instances}/${m.strategy}` === key));
    summary.routing.push({
      instances: ms[0]!.instances,
      strategy: ms[0]!.strategy,
      wallNs: spread(ms.map((m) => m.wallNs)),
      cpuNs: spread(ms.map((m) => m.cpuNs)),
    });
  }
  const cpuOf = <R extends LoadResult>(
    results: readonly R[],
    serverSeconds: (r: R) => number | undefined,
  ): CpuSpread => ({
    serverUs: spreadOrNull(results.map((r) => cpuMicrosPerOp(serverSeconds(r), r.ops))),
    clientUs: spread(results.map((r) => generatorMicrosPerOp(r))),
  });
  for (const strategy of strategies) {
    const hits = present(
      runs.map((r) => r.strategies.find((s) => s.strategy === strategy)?.readHit),
    );
    if (hits.length > 0) summary.cpu.readHit[strategy] = cpuOf(hits, (h) => h.engine?.cpuSeconds);
  }
  for (const name of CEILING_NAMES) {
    // The ceilings with server processes of their own: the hops.
    const results = present(runs.map((r) => r.ceilings[name]));
    if (results.some((r) => r.serverCpuSeconds !== undefined))
      summary.cpu.ceilings[name] = cpuOf(results, (c) => c.serverCpuSeconds);
  }
  const overloads = present(runs.map((r) => r.overload));
  if (overloads.length > 0) {
    const figures = overloads.map((m) => overloadFigures(m));
    const sum = (pick: (o: OverloadMeasurement['outcomes']) => number): number =>
      overloads.reduce((total, m) => total + pick(m.outcomes), 0);
    summary.overload = {
      capacity: spread(overloads.map((m) => m.capacity)),
      offeredRate: spread(overloads.map((m) => m.offeredRate)),
      goodput: spread(figures.map((f) => f.goodput)),
      goodputOverCapacity: spread(figures.map((f) => f.goodputOverCapacity)),
      answeredWithinDeadline: spread(figures.map((f) => f.answeredWithinDeadline)),
      p99Ms: spread(overloads.map((m) => m.latency.p99Ms)),
      outcomes: {
        sent: sum((o) => o.sent),
        ok: sum((o) => o.ok),
        overloaded: sum((o) => o.overloaded),
        deadlineExceeded: sum((o) => o.deadlineExceeded),
        other: sum((o) => o.other),
      },
      firstOther:
        overloads.find((m) => m.outcomes.firstOther !== null)?.outcomes.firstOther ?? null,
      requestTimeoutMs: overloads[0]!.requestTimeoutMs,
    };
  }
  for (const system of PEER_SYSTEMS) {
    const measured = present(runs.map((r) => r.peers?.[system]));
    if (measured.length === 0) continue;
    summary.peers[system] = {
      ...loadSpread(measured.map((m) => m.closed)),
      openP50Ms: spread(measured.map((m) => m.open.latency.p50Ms)),
      openP99Ms: spread(measured.map((m) => m.open.latency.p99Ms)),
      openThroughput: spread(measured.map((m) => m.open.throughput)),
      openErrors: measured.reduce((sum, m) => sum + m.open.errors, 0),
    };
  }
  summary.targets = evaluateTargets(runs);
  return summary;
}

/** One figure over the runs (a sum), when any run measured it. */
function totalOrNull(values: readonly (number | undefined)[]): Spread | null {
  const measured = present(values);
  return measured.length > 0 ? spread([measured.reduce((a, b) => a + b, 0)]) : null;
}

/** Per-run series of one figure, NaN where a run lacks it (pairwise ratios skip those). */
function series(
  runs: readonly RunResult[],
  pick: (run: RunResult) => number | undefined,
): number[] {
  return runs.map((run) => pick(run) ?? Number.NaN);
}

/** `spread` of the finite values of a series, or null when there are none. */
function spreadOrNull(values: readonly number[]): Spread | null {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length > 0 ? spread(finite) : null;
}

/**
 * The value a verdict is taken on: the median, or for a target that must hold in every run
 * the worst run (the min of a lower bound, the max of an upper one).
 */
export function judgedValue(
  measured: Spread,
  comparison: TargetVerdict['comparison'],
  judgedOn: TargetVerdict['judgedOn'],
): number {
  if (judgedOn === 'median') return measured.median;
  return comparison === '>=' ? measured.min : measured.max;
}

function verdict(v: Omit<TargetVerdict, 'met'>): TargetVerdict {
  let met: boolean | null = null;
  if (v.measured) {
    const m = judgedValue(v.measured, v.comparison, v.judgedOn);
    met = v.comparison === '>=' ? m >= v.bound : v.comparison === '<=' ? m <= v.bound : m < v.bound;
  }
  return { ...v, met };
}

/** What a target row needs besides its measurement; each bound is written only here. */
type TargetRow = Omit<TargetVerdict, 'met' | 'measured' | 'judgedOn'> & {
  judgedOn?: TargetVerdict['judgedOn'];
  measured: Spread | null;
};

/** The targets, each a ratio taken within one run (routing: an absolute cost per call). */
export function evaluateTargets(runs: readonly RunResult[]): TargetVerdict[] {
  const strategy = (run: RunResult, name: StrategyName) =>
    run.strategies.find((s) => s.strategy === name);
  const closedTput = (name: StrategyName, w: WorkloadName) =>
    series(runs, (r) => strategy(r, name)?.workloads?.closed[w].throughput);
  const readHit = (r: RunResult) => strategy(r, 'serial-guarded')?.readHit ?? undefined;
  const hopRedis = (r: RunResult) => r.ceilings['hop-redis-fleet'];
  const hopRedisLabel = `bare hop + Redis GET over ${FLEET_SIZE} Fastify processes (ceiling hop-redis-fleet)`;
  const overload = runs.map((r) => (r.overload ? overloadFigures(r.overload) : null));
  const embeddedTput = series(runs, (r) => r.embedded?.closed['read-heavy'].throughput);
  const bento = BENTOCACHE.l2;
  const peer = (r: RunResult, system: PeerSystem) => r.peers?.[system];
  const peersLabel = `${PEER_PROCESSES} caller processes each embedding the system, ${PEER_KEYS} keys, Zipfian ${PEER_READ_SHARE * 100}/${100 - PEER_READ_SHARE * 100} (section peers)`;
  const ones = runs.map(() => 1);
  const rows: TargetRow[] = [
    {
      id: 'read-hit-path',
      statement: `read-hit path vs the bare hop + Redis GET in the same ${FLEET_SIZE}-instance topology`,
      measure: `serial-guarded read-hit mean latency through the fleet / ${hopRedisLabel} mean latency, same concurrency`,
      comparison: '<=',
      bound: 1.3,
      measured: ratioSpread(
        series(runs, (r) => readHit(r)?.latency.meanMs),
        series(runs, (r) => hopRedis(r)?.latency.meanMs),
      ),
      unit: 'x',
    },
    {
      id: 'instance-cpu-per-hit',
      statement: 'instance CPU per hit vs bare Fastify hop CPU + Redis GET',
      measure: `CPU µs per request of the ${FLEET_SIZE} serving processes (process_cpu_seconds_total over the window): serial-guarded instances on the read-hit path / ${hopRedisLabel}`,
      comparison: '<=',
      bound: 1.3,
      measured: ratioSpread(
        series(runs, (r) => {
          const h = readHit(r);
          return h?.engine ? cpuMicrosPerOp(h.engine.cpuSeconds, h.ops) : undefined;
        }),
        series(runs, (r) => {
          const c = hopRedis(r);
          return c ? cpuMicrosPerOp(c.serverCpuSeconds, c.ops) : undefined;
        }),
      ),
      unit: 'x',
    },
    {
      id: 'sdk-cpu-per-get',
      statement: 'SDK CPU per get vs bare undici Pool.request',
      measure: `the caller's CPU µs per operation (process.cpuUsage over the window): client.get on the read-hit path / undici Pool.request + body.text() + JSON.parse against ${hopRedisLabel}, same concurrency`,
      comparison: '<=',
      bound: 1.15,
      measured: ratioSpread(
        series(runs, (r) => {
          const h = readHit(r);
          return h ? generatorMicrosPerOp(h) : undefined;
        }),
        series(runs, (r) => {
          const c = hopRedis(r);
          return c ? generatorMicrosPerOp(c) : undefined;
        }),
      ),
      unit: 'x',
    },
    {
      id: 'hot-key-vs-locked',
      statement: 'serial-guarded vs locked, hot key 50/50, throughput (every run)',
      measure:
        'serial-guarded / locked, closed-loop ops/s, single hot key 50/50; the verdict is on the worst run (the min), not the median',
      comparison: '>=',
      bound: 3,
      judgedOn: 'every run',
      measured: ratioSpread(
        closedTput('serial-guarded', 'hot-key'),
        closedTput('locked', 'hot-key'),
      ),
      unit: 'x',
    },
    {
      id: 'hot-key-vs-cache-aside',
      statement: 'serial-guarded vs cache-aside through the same fleet, hot key 50/50',
      measure: 'serial-guarded / cache-aside, closed-loop ops/s, single hot key 50/50',
      comparison: '>=',
      bound: 1,
      measured: ratioSpread(
        closedTput('serial-guarded', 'hot-key'),
        closedTput('cache-aside', 'hot-key'),
      ),
      unit: 'x',
    },
    {
      id: 'embedded-vs-direct',
      statement: 'embedded serial-guarded vs direct cache-aside, read-heavy Zipf',
      measure: `${EMBEDDED} / ${DIRECT}, closed-loop ops/s, read-heavy Zipfian 95/5 (both in the bench process)`,
      comparison: '>=',
      bound: 0.9,
      measured: ratioSpread(
        embeddedTput,
        series(runs, (r) => r.direct?.closed['read-heavy'].throughput),
      ),
      unit: 'x',
    },
    {
      id: 'embedded-vs-bentocache-throughput',
      statement: `embedded serial-guarded vs ${bento}, 90/10 Zipf, 4 caller processes: throughput`,
      measure: `${EMBEDDED} / ${bento}, closed-loop ops/s summed over the processes; ${peersLabel}`,
      comparison: '>=',
      bound: 1,
      measured: ratioSpread(
        series(runs, (r) => peer(r, 'embedded')?.closed.throughput),
        series(runs, (r) => peer(r, 'bentocache-l2')?.closed.throughput),
      ),
      unit: 'x',
    },
    {
      id: 'embedded-vs-bentocache-p99',
      statement: `embedded serial-guarded vs ${bento}, 90/10 Zipf, 4 caller processes: p99`,
      measure: `${EMBEDDED} / ${bento}, open-loop p99 (CO-corrected) of every process's latencies together; ${peersLabel}`,
      comparison: '<=',
      bound: 1.2,
      measured: ratioSpread(
        series(runs, (r) => peer(r, 'embedded')?.open.latency.p99Ms),
        series(runs, (r) => peer(r, 'bentocache-l2')?.open.latency.p99Ms),
      ),
      unit: 'x',
    },
    {
      id: 'embedded-stale-reads',
      statement: `embedded serial-guarded vs ${bento}: stale reads`,
      measure: `checker violations in the checked runs of ${EMBEDDED} under the demo's injected delays (fill 80 ms, write 10 ms), summed over the runs`,
      comparison: '<=',
      bound: 0,
      measured: totalOrNull(runs.map((r) => r.checked[EMBEDDED]?.violations)),
      unit: 'stale reads',
    },
    {
      id: 'overload-goodput',
      statement: '2x overload on a hot key: goodput vs capacity',
      measure: `serial-guarded, one key 50/50: ok answers/s with ${OVERLOAD_FACTOR}x the closed-loop capacity offered open-loop / that capacity`,
      comparison: '>=',
      bound: 0.9,
      measured: spreadOrNull(overload.map((f) => f?.goodputOverCapacity ?? Number.NaN)),
      unit: 'x',
    },
    {
      id: 'overload-answered',
      statement: '2x overload on a hot key: answered within deadline',
      measure:
        "(ok + overloaded + deadline_exceeded) / sent, same open loop; the deadline is the SDK's requestTimeoutMs (x-keylane-deadline)",
      comparison: '>=',
      bound: 99,
      measured: spreadOrNull(
        overload.map((f) => (f ? f.answeredWithinDeadline * 100 : Number.NaN)),
      ),
      unit: '%',
    },
    {
      id: 'read-heavy-throughput',
      statement:
        'serial-guarded read-heavy throughput vs cache-aside through the same fleet (every run)',
      measure:
        'serial-guarded / cache-aside, closed-loop ops/s, read-heavy Zipfian 95/5; the verdict is on the worst run (the min), not the median',
      comparison: '>=',
      bound: 1,
      judgedOn: 'every run',
      measured: ratioSpread(
        closedTput('serial-guarded', 'read-heavy'),
        closedTput('cache-aside', 'read-heavy'),
      ),
      unit: 'x',
    },
    ...(['serial', 'serial-guarded'] as const).map((name): TargetRow => ({
      id: `single-flight-${name}`,
      statement: `hot-key single-flight: DB reads per invalidation per instance (${name})`,
      measure: `${name}: DB reads per invalidation, worst instance (burst of concurrent reads after each write)`,
      comparison: '<=',
      bound: 1,
      measured: ratioSpread(
        series(runs, (r) => strategy(r, name)?.singleFlight?.maxDbReadsPerInvalidation),
        ones,
      ),
      unit: 'DB reads',
    })),
    ...(
      [
        ['modulo', 300],
        ['consistent', 1000],
      ] as const
    ).map(([name, bound]): TargetRow => ({
      id: `routing-${name}-128`,
      statement: `SDK routing (${name}) at 128 instances`,
      measure: `ns per getServiceConnection, ${name}, 128 instances, bigint keys (wall clock)`,
      comparison: '<',
      bound,
      measured: ratioSpread(
        series(
          runs,
          (r) => r.routing.find((m) => m.instances === 128 && m.strategy === name)?.wallNs,
        ),
        ones,
      ),
      unit: 'ns',
    })),
  ];
  return rows.map(({ judgedOn = 'median', ...row }) => verdict({ ...row, judgedOn }));
}
