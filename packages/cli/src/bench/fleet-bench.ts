import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { deleteScratchKeys } from '@keylane/harness';
import { startFleet, type Fleet } from '../fleet/index.js';
import type { StrategyName } from '@keylane/engine';
import { createClient, type KeylaneClient } from '@keylane/sdk';
import { scrapeFleet } from './metrics.js';
import {
  runReadHit,
  runWorkloads,
  type LoadSettings,
  type PhaseResult,
  type StepReporter,
  type TickReporter,
  type WorkloadResults,
} from './phases.js';
import { measureSingleFlight, type SingleFlightResult } from './single-flight.js';
import type { BenchWorkload, WorkloadName } from './workloads.js';
import { BenchMeasurementError } from './errors.js';

export const FLEET_SIZE = 3;

const PROFILED_SERVICE = fileURLToPath(new URL('./profiled-service.js', import.meta.url));

export interface StrategyRun {
  strategy: StrategyName;
  /** The three workloads; null when the strategies section did not run. */
  workloads: WorkloadResults | null;
  readHit: PhaseResult | null;
  /** Null when the single-flight section did not run. */
  singleFlight: SingleFlightResult | null;
  fleetStartMs: number;
  /** Why this strategy produced no numbers (its fleet did not start, or a phase threw). */
  error?: string;
}

export interface StrategyBenchContext {
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  /** This fleet's own Redis prefix: a cold cache, deleted afterwards. */
  prefix: string;
  workloads: Record<WorkloadName, BenchWorkload>;
  readHitKeys: readonly bigint[];
  settings: LoadSettings;
  /** KEYLANE_LANES of every instance (also the pool size of the unserialized strategies). */
  lanes: number;
  sections: { workloads: boolean; singleFlight: boolean };
  singleFlight: { rounds: number; burst: number };
  /** Directory for a CPU profile of every instance; none when absent. */
  cpuProfDir?: string;
  /** KEYLANE_GROUP_COMMIT of every instance. */
  groupCommit: boolean;
  step: StepReporter;
  tick: TickReporter;
}

/** What a bench fleet needs: its place in the scratch data and how its instances run. */
export type BenchFleetOptions = Pick<
  StrategyBenchContext,
  'databaseUrl' | 'redisUrl' | 'schema' | 'prefix' | 'lanes' | 'cpuProfDir' | 'groupCommit'
>;

export interface BenchFleet {
  fleet: Fleet;
  client: KeylaneClient;
  urls: string[];
  startMs: number;
  /** Closes the client, stops the fleet and deletes its Redis keys. */
  stop: () => Promise<void>;
}

/** FLEET_SIZE fresh instances of `strategy` and an SDK client that sees all of them healthy. */
export async function startBenchFleet(
  strategy: StrategyName,
  ctx: BenchFleetOptions,
): Promise<BenchFleet> {
  const startedAt = performance.now();
  const fleet = await startFleet({
    count: FLEET_SIZE,
    strategy,
    databaseUrl: ctx.databaseUrl,
    redisUrl: ctx.redisUrl,
    schema: ctx.schema,
    prefix: ctx.prefix,
    logLevel: 'warn',
    lanes: ctx.lanes,
    // No drain pause: nothing routes around a bench fleet that is going away.
    env: {
      KEYLANE_DRAIN_MS: '0',
      KEYLANE_GROUP_COMMIT: ctx.groupCommit ? '1' : '0',
      ...(ctx.cpuProfDir ? { BENCH_CPU_PROF_DIR: ctx.cpuProfDir } : {}),
    },
    ...(ctx.cpuProfDir ? { serviceBin: PROFILED_SERVICE } : {}),
  });
  const startMs = performance.now() - startedAt;
  const client = createClient({
    instances: fleet.instances.map((i) => ({ id: i.id, url: i.url })),
  });
  const stop = async (): Promise<void> => {
    await client.close();
    await fleet.stop();
    await deleteScratchKeys(ctx.redisUrl, ctx.prefix);
  };
  try {
    await client.ready();
    await waitAllHealthy(() => client.healthyInstances().length, FLEET_SIZE, 10_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { fleet, client, urls: fleet.instances.map((i) => i.url), startMs, stop };
}

/** One strategy on a fresh fleet: the three workloads, the read-hit path, single-flight. */
export async function benchStrategy(
  strategy: StrategyName,
  ctx: StrategyBenchContext,
): Promise<StrategyRun> {
  ctx.step(`${strategy}: starting ${FLEET_SIZE} instances`);
  const { fleet, client, urls, startMs: fleetStartMs, stop } = await startBenchFleet(strategy, ctx);
  try {
    const target = {
      read: (key: bigint) => client.get(key),
      write: (key: bigint, value: string) => client.put(key, value),
      counters: () => scrapeFleet(urls),
    };
    let workloads: WorkloadResults | null = null;
    let readHit: PhaseResult | null = null;
    if (ctx.sections.workloads) {
      workloads = await runWorkloads(
        target,
        ctx.workloads,
        ctx.settings,
        strategy,
        ctx.step,
        ctx.tick,
      );
      ctx.step(`${strategy}: read-hit path`);
      readHit = await runReadHit(target, ctx.readHitKeys, ctx.settings, ctx.tick);
    }
    let singleFlight: SingleFlightResult | null = null;
    if (ctx.sections.singleFlight) {
      ctx.step(`${strategy}: single-flight`);
      const hotKey = ctx.workloads['hot-key'].keys[0]!;
      singleFlight = await measureSingleFlight({
        instances: fleet.instances,
        key: hotKey,
        rounds: ctx.singleFlight.rounds,
        burst: ctx.singleFlight.burst,
        invalidate: (round) => client.put(hotKey, `invalidation:${round}`),
      });
    }
    return { strategy, workloads, readHit, singleFlight, fleetStartMs };
  } finally {
    await stop();
  }
}

async function waitAllHealthy(
  healthy: () => number,
  want: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (healthy() < want) {
    if (Date.now() > deadline)
      throw new BenchMeasurementError(
        `only ${healthy()} of ${want} instances healthy after ${timeoutMs} ms`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
