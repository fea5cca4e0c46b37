import { createEngine, type StrategyName } from '@keylane/engine/baselines';
import { createScratchNames, dropScratch, resetScratch } from '@keylane/harness';
import {
  DEFAULT_CHAOS,
  DEFAULT_FLEET_OPTIONS,
  startFleet,
  type Fleet,
  type FleetChaos,
} from '../../fleet/index.js';
import { InvalidOptionsError } from '@keylane/protocol';
import { entityAdapter, type DemoEntity } from '../entities.js';
import { runOnFleet, type ScenarioRunOptions } from './run.js';
import type { ScenarioResult } from './verify.js';

/** What a fleet is: fixed for every run on it. */
export interface ScenarioFleetOptions {
  strategy: StrategyName;
  databaseUrl: string;
  redisUrl: string;
  /** Instances in the fleet. @default 3 */
  instances?: number;
  /** Delays that widen race windows. @default DEFAULT_CHAOS */
  chaos?: FleetChaos;
  /** Lanes per instance; few, to spare the shared Postgres' connections. @default DEFAULT_FLEET_OPTIONS.lanes (4) */
  lanes?: number;
  /** What the runs' registers live in (and so which service the fleet runs). @default 'items' */
  entity?: DemoEntity;
}

export type ScenarioOptions = ScenarioFleetOptions & ScenarioRunOptions;

/**
 * A running fleet of one strategy on its own schema and key prefix, ready for runs. Each run
 * starts from empty data (the schema's tables are truncated and the prefix's keys deleted
 * between runs) with its own SDK clients.
 */
export interface ScenarioFleet {
  readonly strategy: StrategyName;
  readonly fleet: Fleet;
  readonly schema: string;
  readonly prefix: string;
  run(options: ScenarioRunOptions): Promise<ScenarioResult>;
  /** Stops the fleet, drops the schema and deletes the prefix's keys. Idempotent. */
  dispose(): Promise<void>;
}

/**
 * One measured run on a fresh fleet: the seeded workload through real SDK clients, then the
 * history check, the at-rest convergence check and the lost-write count. Everything it
 * starts or creates is gone when it returns or throws.
 */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const scenarioFleet = await startScenarioFleet(options);
  try {
    return await scenarioFleet.run(options);
  } finally {
    await scenarioFleet.dispose();
  }
}

/** Starts a fleet for runs: the slow part, so callers can overlap it with other work. */
export async function startScenarioFleet(options: ScenarioFleetOptions): Promise<ScenarioFleet> {
  const { strategy, databaseUrl, redisUrl } = options;
  const instanceCount = options.instances ?? 3;
  if (!Number.isInteger(instanceCount) || instanceCount < 1 || instanceCount > 64) {
    throw new InvalidOptionsError(
      'instances',
      `must be an integer in [1, 64], got ${instanceCount}`,
    );
  }
  const adapter = entityAdapter(options.entity ?? 'items');
  const space = createScratchNames(strategy);
  const cleanups: (() => Promise<void>)[] = [];
  let disposed: Promise<void> | undefined;
  const dispose = (): Promise<void> =>
    (disposed ??= (async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
      await dropScratch(databaseUrl, redisUrl, space).catch(() => undefined);
    })());

  try {
    // The inspecting engine (for the at-rest check) starts beside the fleet; the table's DDL
    // runs under an advisory lock, so they do not trip over each other creating it.
    const [engineResult, fleetResult] = await Promise.allSettled([
      adapter.ensureTables(databaseUrl, space.schema).then(() =>
        createEngine({
          postgres: { connectionString: databaseUrl },
          redis: { url: redisUrl, keyPrefix: space.prefix },
          lanes: 1,
        }),
      ),
      startFleet({
        count: instanceCount,
        service: adapter.service,
        strategy,
        databaseUrl,
        redisUrl,
        schema: space.schema,
        prefix: space.prefix,
        lanes: options.lanes ?? DEFAULT_FLEET_OPTIONS.lanes,
        chaos: options.chaos ?? DEFAULT_CHAOS,
        // A drain period only helps load balancers, of which there are none here.
        env: { KEYLANE_DRAIN_MS: '0', KEYLANE_SHUTDOWN_GRACE_MS: '5000' },
      }),
    ]);
    if (engineResult.status === 'fulfilled') cleanups.push(() => engineResult.value.close());
    if (fleetResult.status === 'fulfilled') cleanups.push(() => fleetResult.value.stop());
    if (fleetResult.status === 'rejected') throw fleetResult.reason;
    if (engineResult.status === 'rejected') throw engineResult.reason;
    const inspect = adapter.inspector(engineResult.value, space.schema);
    const fleet = fleetResult.value;

    let runs = 0;
    let busy = false;
    return {
      strategy,
      fleet,
      schema: space.schema,
      prefix: space.prefix,
      dispose,
      async run(runOptions) {
        if (busy) throw new Error('one run at a time per fleet');
        busy = true;
        try {
          if (runs > 0) await resetScratch(databaseUrl, redisUrl, space);
          runs += 1;
          return await runOnFleet(strategy, fleet, adapter, inspect, runOptions);
        } finally {
          busy = false;
        }
      },
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}
