import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { checkDependencies, DEFAULT_CHAOS } from '../fleet/index.js';
import { dropScratch } from '@keylane/harness';
import { ENGINE_OPTIONS, type StrategyName } from '@keylane/engine';
import {
  CEILING_NAMES,
  measureHttpHop,
  measurePgSelect,
  measurePgUpdate,
  measureRedisGet,
  type CeilingContext,
  type CeilingName,
  type CeilingResult,
} from './ceilings.js';
import { createDirectCacheAside } from './direct-cache-aside.js';
import { measureDeployments } from './deployments.js';
import { measureOverload } from './overload.js';
import { measurePeers, PEER_KEYS, PEER_READ_SHARE, PEER_SYSTEMS } from './peers.js';
import { createEmbeddedEngine } from './embedded-engine.js';
import { BENTOCACHE_SETUPS, createBentocacheTarget } from './bentocache-target.js';
import { benchStrategy, FLEET_SIZE, type StrategyRun } from './fleet-bench.js';
import { resolveBenchOptions, type BenchOptions, type SectionName } from './options.js';
import {
  runWorkloads,
  type ItemTarget,
  type LoadSettings,
  type WorkloadResults,
} from './phases.js';
import { SILENT_PROGRESS, type BenchProgress } from './progress.js';
import { measureRouting, ROUTING_SIZES, ROUTING_STRATEGIES } from './routing.js';
import { strategyOrder } from './order.js';
import { resetRows, scratchNames, seedScratch } from './scratch.js';
import type { BenchResult } from './bench-result.js';
import { checkedRun } from './checked-run.js';
import { emptyRunResult, type RunResult } from './run-result.js';
import { summarize } from './summary.js';
import { BENTOCACHE, DIRECT, EMBEDDED, type InProcessName } from './system-names.js';
import { createBenchWorkloads, WORKLOAD_NAMES } from './workloads.js';
import { createZipf } from './zipf.js';

/** The engine's default cache TTL, used by the direct cache-aside and bentocache too. */
const CACHE_TTL_MS = ENGINE_OPTIONS.cacheTtlMs.default;
const READ_HIT_KEYS = 256;
type Chaos = { fillDelayMs: number; writeDelayMs: number };
type InProcessTarget = ItemTarget & { close(): Promise<void> };
/** A system the bench runs in its own process: how to make one, and where its results go. */
interface InProcessSystem {
  name: InProcessName;
  section: SectionName;
  create(prefix: string): Promise<InProcessTarget>;
  store(results: WorkloadResults): void;
}

/** The demo's callers and the shortest checked run: long enough for the races to be met. */
const CHECKED_CALLERS = 16;
const CHECKED_MIN_MS = 2_000;
/** Processes of the embedded deployment beside the fleet: as many as `keylane demo --deployment embedded` runs. */
const EMBEDDED_PROCESSES = 4;

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const own = typeof code === 'string' ? `${err.message} (${code})` : err.message;
    return err.cause === undefined ? own : `${own}; cause: ${describeError(err.cause)}`;
  }
  return String(err);
}

export interface RunBenchHooks {
  progress?: BenchProgress;
  /**
   * Stops the run at its next step (a phase runs out its window first, at most `durationMs`):
   * runBench then stops its fleets, drops its scratch data and rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

/**
 * Runs every selected section `runs` times. Each run measures everything once (the strategies in
 * an order rotated from run to run), so a ratio of two figures of one run compares numbers
 * taken minutes apart under the same background load. Everything it creates (a schema, a Redis prefix, fleets, the hop
 * server) is removed before it returns, also on failure.
 */
export async function runBench(
  options: BenchOptions = {},
  hooks: RunBenchHooks = {},
): Promise<BenchResult> {
  const o = resolveBenchOptions(options);
  const progress = hooks.progress ?? SILENT_PROGRESS;
  const { signal } = hooks;
  // Every step checks for an interrupt first; the finally blocks then clean up.
  const step = (label: string): void => {
    signal?.throwIfAborted();
    progress.step(label);
  };
  // A failed measurement is recorded and the run goes on; an interrupt is not a failure.
  const recordUnlessAborted = (err: unknown, record: () => void): void => {
    if (signal?.aborted === true) throw err;
    record();
  };
  const has = (section: SectionName): boolean => o.only.includes(section);
  const startedAt = new Date();
  const loadAverageAtStart = loadavg();
  const t0 = performance.now();
  await checkDependencies(o.databaseUrl, o.redisUrl);

  const workloads = createBenchWorkloads({
    seed: o.seed,
    keys: o.keys,
    zipfExponent: o.zipfExponent,
  });
  const allKeys = [...new Set([...workloads['read-heavy'].keys, ...workloads['hot-key'].keys])];
  const readHitKeys = workloads['read-heavy'].keys.slice(0, READ_HIT_KEYS);
  const settings: LoadSettings = {
    concurrency: o.concurrency,
    durationMs: o.durationMs,
    warmupMs: o.warmupMs,
    ratePerSec: o.ratePerSec,
  };
  const scratch = scratchNames();
  const fleetSections = has('strategies') || has('single-flight');
  const stepsPerRun =
    (has('ceilings') ? CEILING_NAMES.length : 0) +
    (fleetSections
      ? o.strategies.length *
        (1 +
          (has('strategies') ? WORKLOAD_NAMES.length * 2 + 2 : 0) +
          (has('single-flight') ? 1 : 0))
      : 0) +
    (has('direct') ? WORKLOAD_NAMES.length * 2 + 1 : 0) +
    (has('embedded') ? WORKLOAD_NAMES.length * 2 + 1 : 0) +
    (has('bentocache') ? BENTOCACHE_SETUPS.length * (WORKLOAD_NAMES.length * 2 + 1) : 0) +
    (has('checked') ? 2 + BENTOCACHE_SETUPS.length : 0) +
    (has('deployments') ? 1 : 0) +
    (has('overload') ? 2 : 0) +
    (has('peers') ? PEER_SYSTEMS.length * 2 : 0) +
    (has('routing') ? 1 : 0);
  progress.begin(stepsPerRun * o.runs + 2);
  step(`seeding ${allKeys.length} keys in schema ${scratch.schema}`);

  const runs: RunResult[] = [];
  try {
    await seedScratch(o.databaseUrl, scratch, allKeys);
    for (let run = 1; run <= o.runs; run++) {
      const tag = `run ${run}/${o.runs}`;
      const result = emptyRunResult(run);
      if (has('ceilings')) {
        const ctx: CeilingContext = {
          redisUrl: o.redisUrl,
          databaseUrl: o.databaseUrl,
          schema: scratch.schema,
          prefix: `${scratch.prefix}-ceiling`,
          keys: allKeys,
          concurrency: o.concurrency,
          durationMs: o.durationMs,
          warmupMs: o.warmupMs,
          onTick: (s) => progress.tick(s),
        };
        step(`${tag} ceiling: Redis GET`);
        const attempt = async (
          name: CeilingName,
          measure: () => Promise<CeilingResult>,
        ): Promise<void> => {
          try {
            result.ceilings[name] = await measure();
          } catch (err) {
            recordUnlessAborted(err, () =>
              result.errors.push(`ceiling ${name}: ${describeError(err)}`),
            );
          }
        };
        await attempt('redis-get', () => measureRedisGet(ctx));
        step(`${tag} ceiling: bare HTTP hop`);
        await attempt('http-hop', () => measureHttpHop(ctx, 1));
        step(`${tag} ceiling: bare HTTP hop over ${FLEET_SIZE} server processes`);
        await attempt('http-hop-fleet', () => measureHttpHop(ctx, FLEET_SIZE));
        step(`${tag} ceiling: bare HTTP hop + Redis GET over ${FLEET_SIZE} server processes`);
        await attempt('hop-redis-fleet', () => measureHttpHop(ctx, FLEET_SIZE, true));
        step(`${tag} ceiling: pg primary-key SELECT`);
        await attempt('pg-select', () => measurePgSelect(ctx, o.lanes));
        step(`${tag} ceiling: pg primary-key UPSERT (a commit)`);
        await attempt('pg-update', () => measurePgUpdate(ctx, o.lanes));
      }
      if (fleetSections) {
        for (const strategy of strategyOrder(o.strategies, run, o.runs)) {
          // One strategy failing (a shared Postgres out of connections, say) must not throw
          // away the other measurements of a ten-minute run: it is recorded and reported.
          result.strategies.push(
            await runStrategy(strategy, run, tag).catch((err: unknown) => {
              if (signal?.aborted === true) throw err;
              return {
                strategy,
                workloads: null,
                readHit: null,
                singleFlight: null,
                fleetStartMs: 0,
                error: describeError(err),
              };
            }),
          );
        }
      }
      // The systems that run in this process, beside the fleet: each measured on the same
      // workloads (its own section), and each checked under the demo's delays (`checked`).
      const inProcess = (chaos?: Chaos): InProcessSystem[] => {
        const base = {
          databaseUrl: o.databaseUrl,
          redisUrl: o.redisUrl,
          schema: scratch.schema,
          ...(chaos ? { chaos } : {}),
        };
        return [
          {
            name: DIRECT,
            section: 'direct',
            create: (prefix) =>
              createDirectCacheAside({ ...base, prefix, poolSize: o.lanes, ttlMs: CACHE_TTL_MS }),
            store: (w) => (result.direct = w),
          },
          {
            name: EMBEDDED,
            section: 'embedded',
            create: (prefix) =>
              createEmbeddedEngine({ ...base, prefix, lanes: o.lanes, groupCommit: o.groupCommit }),
            store: (w) => (result.embedded = w),
          },
          ...BENTOCACHE_SETUPS.map((setup): InProcessSystem => ({
            name: BENTOCACHE[setup],
            section: 'bentocache',
            create: (prefix) =>
              createBentocacheTarget({
                ...base,
                prefix,
                setup,
                poolSize: o.lanes,
                ttlMs: CACHE_TTL_MS,
              }),
            store: (w) => (result.bentocache[setup] = w),
          })),
        ];
      };
      /** Runs `use` on a fresh target of `system`; a failure is recorded, not thrown. */
      const withTarget = async (
        system: InProcessSystem,
        prefix: string,
        use: (target: InProcessTarget) => Promise<void>,
        what: string,
      ): Promise<void> => {
        try {
          const target = await system.create(prefix);
          try {
            await use(target);
          } finally {
            await target.close();
          }
        } catch (err) {
          recordUnlessAborted(err, () => result.errors.push(`${what}: ${describeError(err)}`));
        }
      };
      for (const [index, system] of inProcess().entries()) {
        if (!has(system.section)) continue;
        await resetRows(o.databaseUrl, scratch, allKeys);
        await withTarget(
          system,
          `${scratch.prefix}-${system.section}-${index}-r${run}`,
          async (target) => {
            system.store(
              await runWorkloads(
                target,
                workloads,
                settings,
                `${tag} ${system.name}`,
                (l) => step(l),
                (x) => progress.tick(x),
              ),
            );
          },
          system.name,
        );
      }
      if (has('checked')) {
        // The same question the demo asks of the fleet's strategies, for the systems that run
        // in this process: with the demo's delays widening the races, what does a checker find?
        for (const [index, system] of inProcess({ ...DEFAULT_CHAOS }).entries()) {
          step(`${tag} checked run (injected delays): ${system.name}`);
          // Absent keys, the checker's initial state.
          await resetRows(o.databaseUrl, scratch, []);
          await withTarget(
            system,
            `${scratch.prefix}-checked-${index}-r${run}`,
            async (target) => {
              result.checked[system.name] = await checkedRun(target, {
                seed: o.seed,
                callers: CHECKED_CALLERS,
                durationMs: Math.max(CHECKED_MIN_MS, o.durationMs * 2),
                ...(signal ? { signal } : {}),
              });
            },
            `checked run of ${system.name}`,
          );
        }
        await resetRows(o.databaseUrl, scratch, allKeys);
      }
      /** A section's measurement, or null with the failure recorded (an interrupt still throws). */
      const section = async <T>(name: string, measure: () => Promise<T>): Promise<T | null> => {
        try {
          return await measure();
        } catch (err) {
          recordUnlessAborted(err, () => result.errors.push(`${name}: ${describeError(err)}`));
          return null;
        }
      };
      /** Where a section's engines keep their data: the scratch schema and a prefix of its own. */
      const place = (name: string) => ({
        databaseUrl: o.databaseUrl,
        redisUrl: o.redisUrl,
        schema: scratch.schema,
        prefix: `${scratch.prefix}-${name}-r${run}`,
      });
      if (has('deployments')) {
        step(
          `${tag} deployments: routed vs ${EMBEDDED_PROCESSES} embedded processes on one hot key`,
        );
        await resetRows(o.databaseUrl, scratch, allKeys);
        result.deployments = await section('deployments', () =>
          measureDeployments({
            ...place('deployments'),
            hotKey: workloads['hot-key'].keys[0]!,
            lanes: o.lanes,
            processes: EMBEDDED_PROCESSES,
            rounds: o.singleFlightRounds,
            burst: o.singleFlightBurst,
          }),
        );
      }
      if (has('peers')) {
        result.peers = await section('peers', () =>
          measurePeers({
            ...place('peers'),
            lanes: o.lanes,
            groupCommit: o.groupCommit,
            ttlMs: CACHE_TTL_MS,
            keys: workloads['read-heavy'].keys.slice(0, PEER_KEYS),
            zipfExponent: o.zipfExponent,
            readShare: PEER_READ_SHARE,
            seed: o.seed,
            concurrency: o.concurrency,
            warmupMs: o.warmupMs,
            durationMs: o.durationMs,
            ratePerSec: o.ratePerSec,
            step: (label) => step(`${tag} ${label}`),
            beforeEach: () => resetRows(o.databaseUrl, scratch, allKeys),
          }),
        );
      }
      if (has('overload')) {
        await resetRows(o.databaseUrl, scratch, allKeys);
        result.overload = await section('overload', () =>
          measureOverload({
            ...place('overload'),
            lanes: o.lanes,
            groupCommit: o.groupCommit,
            ...(o.cpuProfDir ? { cpuProfDir: `${o.cpuProfDir}/overload-r${run}` } : {}),
            workload: workloads['hot-key'],
            callers: o.concurrency,
            warmupMs: o.warmupMs,
            durationMs: o.durationMs,
            step: (label) => step(`${tag} ${label}`),
            tick: (share) => progress.tick(share),
          }),
        );
      }
      if (has('routing')) {
        step(
          `${tag} SDK routing (${ROUTING_SIZES.join('/')} instances, ${ROUTING_STRATEGIES.join(' and ')})`,
        );
        result.routing = await measureRouting(o.routingCalls, 3);
      }
      runs.push(result);
    }
  } finally {
    progress.step('cleaning up');
    await dropScratch(o.databaseUrl, o.redisUrl, scratch);
    progress.end();
  }

  async function runStrategy(
    strategy: StrategyName,
    run: number,
    tag: string,
  ): Promise<StrategyRun> {
    await resetRows(o.databaseUrl, scratch, allKeys);
    return benchStrategy(strategy, {
      databaseUrl: o.databaseUrl,
      redisUrl: o.redisUrl,
      schema: scratch.schema,
      prefix: `${scratch.prefix}-${strategy}-r${run}`,
      workloads,
      readHitKeys,
      settings,
      lanes: o.lanes,
      sections: { workloads: has('strategies'), singleFlight: has('single-flight') },
      singleFlight: { rounds: o.singleFlightRounds, burst: o.singleFlightBurst },
      ...(o.cpuProfDir ? { cpuProfDir: `${o.cpuProfDir}/${strategy}-r${run}` } : {}),
      groupCommit: o.groupCommit,
      step: (label) => step(`${tag} ${label}`),
      tick: (share) => progress.tick(share),
    });
  }

  const { databaseUrl: _d, redisUrl: _r, ...config } = o;
  const cpuList = cpus();
  return {
    schemaVersion: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: performance.now() - t0,
    machine: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model ?? 'unknown',
      totalMemoryMb: Math.round(totalmem() / 2 ** 20),
      loadAverageAtStart,
      loadAverageAtEnd: loadavg(),
    },
    scratch,
    config: {
      ...config,
      fleetSize: FLEET_SIZE,
      lanesPerInstance: o.lanes,
      top1PercentShare: createZipf(o.keys, o.zipfExponent).massOfTop(
        Math.max(1, Math.round(o.keys / 100)),
      ),
    },
    runs,
    summary: summarize(runs),
  };
}
