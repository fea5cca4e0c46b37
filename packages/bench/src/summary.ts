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
  targets: TargetVerdict[];
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
  unit: 'x' | 'ns' | 'DB reads' | 'stale reads';
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
  summary.targets = evaluateTargets(runs);
  return summary;
}

/** Per-run series of one figure, NaN where a run lacks it (pairwise ratios skip those). */
/** One figure over the runs (a sum), when any run measured it. */
function totalOrNull(values: readonly (number | undefined)[]): Spread | null {
  const measured = present(values);
  return measured.length > 0 ? spread([measured.reduce((a, b) => a + b, 0)]) : null;
}

function series(
  runs: readonly RunResult[],
  pick: (run: RunResult) => number | undefined,
): number[] {
  return runs.map((run) => pick(run) ?? Number.NaN);
}

function verdict(v: Omit<TargetVerdict, 'met'>): TargetVerdict {
  const m = v.measured?.median;
  let met: boolean | null = null;
  if (m !== undefined)
    met = v.comparison === '>=' ? m >= v.bound : v.comparison === '<=' ? m <= v.bound : m < v.bound;
  return { ...v, met };
}

/** The targets, each a ratio taken within one run (routing: an absolute cost per call). */
export function evaluateTargets(runs: readonly RunResult[]): TargetVerdict[] {
  const strategy = (run: RunResult, name: StrategyName) =>
    run.strategies.find((s) => s.strategy === name);
  const closedTput = (name: StrategyName, w: WorkloadName) =>
    series(runs, (r) => strategy(r, name)?.workloads?.closed[w].throughput);
  const openP99 = (name: StrategyName, w: WorkloadName) =>
    series(runs, (r) => strategy(r, name)?.workloads?.open[w].latency.p99Ms);
  const ones = runs.map(() => 1);
  const out: TargetVerdict[] = [];
  out.push(
    verdict({
      id: 'read-heavy-throughput',
      statement: 'serial-guarded read-heavy throughput >= 0.85x cache-aside through the same fleet',
      measure: 'serial-guarded / cache-aside, closed-loop ops/s, read-heavy Zipfian',
      comparison: '>=',
      bound: 0.85,
      measured: ratioSpread(
        closedTput('serial-guarded', 'read-heavy'),
        closedTput('cache-aside', 'read-heavy'),
      ),
      unit: 'x',
    }),
    verdict({
      id: 'read-heavy-p99',
      statement: 'serial-guarded read-heavy p99 <= 1.5x cache-aside',
      measure: 'serial-guarded / cache-aside, open-loop p99 (CO-corrected), read-heavy Zipfian',
      comparison: '<=',
      bound: 1.5,
      measured: ratioSpread(
        openP99('serial-guarded', 'read-heavy'),
        openP99('cache-aside', 'read-heavy'),
      ),
      unit: 'x',
    }),
    verdict({
      id: 'hot-key-vs-locked',
      statement: 'serial-guarded >= 2x locked on the hot-key 50/50 workload',
      measure: 'serial-guarded / locked, closed-loop ops/s, single hot key 50/50',
      comparison: '>=',
      bound: 2,
      measured: ratioSpread(
        closedTput('serial-guarded', 'hot-key'),
        closedTput('locked', 'hot-key'),
      ),
      unit: 'x',
    }),
  );
  out.push(
    verdict({
      id: 'embedded-vs-direct',
      statement:
        'embedded serial-guarded read-heavy throughput >= 0.9x direct cache-aside in the caller',
      measure: `${EMBEDDED} / ${DIRECT}, closed-loop ops/s, read-heavy Zipfian (both in the bench process)`,
      comparison: '>=',
      bound: 0.9,
      measured: ratioSpread(
        series(runs, (r) => r.embedded?.closed['read-heavy'].throughput),
        series(runs, (r) => r.direct?.closed['read-heavy'].throughput),
      ),
      unit: 'x',
    }),
  );
  const bento = BENTOCACHE.l2;
  out.push(
    verdict({
      id: 'embedded-vs-bentocache-throughput',
      statement: `embedded serial-guarded read-heavy throughput >= 1.0x ${bento}`,
      measure: `${EMBEDDED} / ${bento}, closed-loop ops/s, read-heavy Zipfian (both in the bench process)`,
      comparison: '>=',
      bound: 1,
      measured: ratioSpread(
        series(runs, (r) => r.embedded?.closed['read-heavy'].throughput),
        series(runs, (r) => r.bentocache.l2?.closed['read-heavy'].throughput),
      ),
      unit: 'x',
    }),
    verdict({
      id: 'embedded-vs-bentocache-p99',
      statement: `embedded serial-guarded read-heavy p99 <= 1.2x ${bento}`,
      measure: `${EMBEDDED} / ${bento}, open-loop p99 (CO-corrected), read-heavy Zipfian`,
      comparison: '<=',
      bound: 1.2,
      measured: ratioSpread(
        series(runs, (r) => r.embedded?.open['read-heavy'].latency.p99Ms),
        series(runs, (r) => r.bentocache.l2?.open['read-heavy'].latency.p99Ms),
      ),
      unit: 'x',
    }),
    verdict({
      id: 'embedded-stale-reads',
      statement:
        "embedded serial-guarded: 0 stale reads under the demo's injected delays, in every run",
      measure: `checker violations in the checked runs of ${EMBEDDED}, summed over the runs (fill 80 ms, write 10 ms)`,
      comparison: '<=',
      bound: 0,
      measured: totalOrNull(runs.map((r) => r.checked[EMBEDDED]?.violations)),
      unit: 'stale reads',
    }),
  );
  for (const name of ['serial', 'serial-guarded'] as const) {
    out.push(
      verdict({
        id: `single-flight-${name}`,
        statement: `hot-key single-flight: at most 1 DB read per invalidation per instance (${name})`,
        measure: `${name}: DB reads per invalidation, worst instance (burst of concurrent reads after each write)`,
        comparison: '<=',
        bound: 1,
        measured: ratioSpread(
          series(runs, (r) => strategy(r, name)?.singleFlight?.maxDbReadsPerInvalidation),
          ones,
        ),
        unit: 'DB reads',
      }),
    );
  }
  out.push(
    verdict({
      id: 'read-hit-path',
      statement: 'read-hit path within 2x of the bare HTTP hop + Redis GET ceiling',
      measure:
        'serial-guarded read-hit mean latency / (HTTP hop mean + Redis GET mean), same concurrency',
      comparison: '<=',
      bound: 2,
      measured: ratioSpread(
        series(runs, (r) => strategy(r, 'serial-guarded')?.readHit?.latency.meanMs),
        series(runs, (r) => {
          const hop = r.ceilings['http-hop'];
          const get = r.ceilings['redis-get'];
          return hop && get ? hop.latency.meanMs + get.latency.meanMs : undefined;
        }),
      ),
      unit: 'x',
    }),
  );
  for (const [name, bound] of [
    ['modulo', 300],
    ['consistent', 1000],
  ] as const) {
    out.push(
      verdict({
        id: `routing-${name}-128`,
        statement: `SDK routing under ${bound} ns (${name}) at 128 instances`,
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
      }),
    );
  }
  return out;
}
