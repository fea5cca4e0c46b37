import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeJsonlFile } from '@keylane/checker';
import { STRATEGY_NAMES, type StrategyName } from '@keylane/engine/baselines';
import { checkDependencies, DEFAULT_CHAOS } from '../fleet/index.js';
import { DEFAULT_WORKLOAD_OPTIONS } from '../workload/index.js';
import { InvalidOptionsError } from '@keylane/protocol';
import { runEmbedded } from './embedded.js';
import { entityAdapter, type DemoEntity } from './entities.js';
import { SILENT_PROGRESS, type ProgressSink } from './progress.js';
import {
  DEPLOYMENTS,
  evaluateClaims,
  type DemoConfig,
  type DemoReport,
  type Deployment,
} from './report.js';
import {
  SCENARIO_NAMES,
  SCENARIOS,
  startScenarioFleet,
  type ScenarioFleet,
  type ScenarioName,
  type ScenarioResult,
} from './scenario/index.js';

export interface DemoOptions {
  databaseUrl: string;
  redisUrl: string;
  /** @default DEFAULT_DEMO_SEED */
  seed?: number;
  /** About 30 s instead of about 2 minutes (on an otherwise idle 2-core machine); same claims, fewer operations. */
  quick?: boolean;
  /** Strategies for the plain runs. @default all six */
  strategies?: readonly StrategyName[];
  /** Strategies for the split-view and instance-loss runs. @default ['serial', 'serial-guarded'] */
  scenarioStrategies?: readonly StrategyName[];
  /** Concurrent callers. @default 16 */
  callers?: number;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /**
   * Writes each run's recorded history there as checker JSONL (`<n>-<strategy>-<scenario>.jsonl`),
   * so it can be checked again by another tool; the report names each file.
   */
  historyDir?: string;
  /**
   * `routed`: a fleet of item-service instances behind the SDK (the plain runs, split view and
   * instance loss). `embedded`: N processes each embedding the engine on the same keys, no
   * fleet (the plain runs only: there is no routing to split or instance to lose).
   * @default 'routed'
   */
  deployment?: Deployment;
  /** What the registers live in: the items table, or the cart service's carts + lines. @default 'items' */
  entity?: DemoEntity;
}

export const DEFAULT_DEMO_SEED = 42;

/** Processes of the embedded deployment: as many as a small service runs, each with its own engine. */
export const EMBEDDED_PROCESSES = 4;

/** Run lengths: the full demo takes about 2 minutes, `--quick` about 30 s, on a 2-core machine. */
export const DEMO_TIMINGS = {
  full: {
    plainMs: 10_000,
    splitViewMs: 8_000,
    instanceLossMs: 12_000,
    fault: { atMs: 3_000, downMs: 3_000 },
    minOperations: 0,
  },
  // A short run on a busy machine may do too little work to hit a race; these keep going
  // (up to 3x) until they reach minOperations.
  quick: {
    plainMs: 1_500,
    splitViewMs: 1_500,
    // Long enough for the SDK to notice the kill (about 0.4 s) and reroute; the run also waits
    // for the restart, which takes about a second.
    instanceLossMs: 2_500,
    fault: { atMs: 600, downMs: 800 },
    minOperations: 400,
  },
} as const;

/**
 * Runs every strategy on a fresh 3-instance fleet under one seeded workload, then the split
 * view and instance loss scenarios on the serial strategies, and returns the report.
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const started = Date.now();
  const seed = options.seed ?? DEFAULT_DEMO_SEED;
  const quick = options.quick ?? false;
  const strategies = validateStrategies(options.strategies ?? STRATEGY_NAMES, 'strategies');
  const scenarioStrategies = validateStrategies(
    options.scenarioStrategies ?? ['serial', 'serial-guarded'],
    'scenarioStrategies',
  );
  const callers = options.callers ?? 16;
  if (!Number.isInteger(callers) || callers < 2 || callers > 1024) {
    throw new InvalidOptionsError('callers', `must be an integer in [2, 1024], got ${callers}`);
  }
  const timings = quick ? DEMO_TIMINGS.quick : DEMO_TIMINGS.full;
  const progress = options.progress ?? SILENT_PROGRESS;

  await checkDependencies(options.databaseUrl, options.redisUrl);
  const historyDir = options.historyDir === undefined ? undefined : resolve(options.historyDir);
  if (historyDir !== undefined) await mkdir(historyDir, { recursive: true });

  const deployment = options.deployment ?? 'routed';
  if (!DEPLOYMENTS.includes(deployment)) {
    throw new InvalidOptionsError(
      'deployment',
      `unknown deployment "${String(deployment)}"; expected ${DEPLOYMENTS.join(', ')}`,
    );
  }
  const entity = options.entity ?? 'items';
  entityAdapter(entity); // refuses an unknown one before anything starts
  const config: DemoConfig = {
    deployment,
    entity,
    instances: deployment === 'embedded' ? EMBEDDED_PROCESSES : 3,
    callers,
    ...DEFAULT_WORKLOAD_OPTIONS,
    chaos: { ...DEFAULT_CHAOS },
    plainMs: timings.plainMs,
    splitViewMs: timings.splitViewMs,
    instanceLossMs: timings.instanceLossMs,
    fault: { ...timings.fault },
    minOperations: timings.minOperations,
  };

  const finish = (plain: ScenarioResult[], scenarios: ScenarioResult[]): DemoReport => ({
    reportVersion: 1,
    startedAt: new Date(started).toISOString(),
    seed,
    quick,
    config,
    strategies: plain,
    scenarios,
    claims: evaluateClaims(plain, scenarios, deployment),
    totalMs: Date.now() - started,
  });

  const saveHistory = async (result: ScenarioResult, index: number): Promise<void> => {
    if (historyDir === undefined || !result.history) return;
    // Written as each run ends, and dropped from the report: a full demo records hundreds of
    // thousands of operations.
    const file = join(
      historyDir,
      `${String(index + 1).padStart(2, '0')}-${result.strategy}-${result.scenario}.jsonl`,
    );
    await writeJsonlFile(file, result.history);
    delete result.history;
    result.historyFile = file;
  };

  if (deployment === 'embedded') {
    const plain: ScenarioResult[] = [];
    for (const strategy of STRATEGY_NAMES.filter((s) => strategies.includes(s))) {
      options.signal?.throwIfAborted();
      progress.begin(`${strategy} / embedded`);
      try {
        const result = await runEmbedded({
          strategy,
          databaseUrl: options.databaseUrl,
          redisUrl: options.redisUrl,
          processes: EMBEDDED_PROCESSES,
          entity,
          callers,
          seed,
          durationMs: timings.plainMs,
          minOperations: timings.minOperations,
          chaos: config.chaos,
          keepHistory: historyDir !== undefined,
          onProgress: (p) => progress.update(p),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        await saveHistory(result, plain.length);
        progress.end(result);
        plain.push(result);
      } catch (err) {
        progress.fail(err);
        throw err;
      }
    }
    return finish(plain, []);
  }

  const durations: Record<ScenarioName, number> = {
    plain: timings.plainMs,
    'split-view': timings.splitViewMs,
    'instance-loss': timings.instanceLossMs,
  };
  // One fleet per strategy, in table order; the serial strategies also run the scenarios
  // on their fleet (each run on emptied data and with its own clients).
  const fleetPlan = STRATEGY_NAMES.filter(
    (s) => strategies.includes(s) || scenarioStrategies.includes(s),
  ).map((strategy) => ({
    strategy,
    runs: SCENARIO_NAMES.filter((scenario) =>
      (scenario === 'plain' ? strategies : scenarioStrategies).includes(strategy),
    ).map((scenario) => ({ scenario, durationMs: durations[scenario] })),
  }));

  // Starting a fleet costs seconds of CPU, mostly module loading. The next fleet starts as soon
  // as the current fleet's last workload ends (its checks overlap the start-up); in --quick
  // mode already when that last workload begins, which blurs its throughput figures but
  // keeps the whole run short.
  let next: Promise<ScenarioFleet> | undefined;
  const startNext = (index: number): void => {
    const step = fleetPlan[index];
    if (next || !step || options.signal?.aborted) return;
    next = startScenarioFleet({
      strategy: step.strategy,
      databaseUrl: options.databaseUrl,
      redisUrl: options.redisUrl,
      instances: config.instances,
      chaos: config.chaos,
      entity,
    });
    next.catch(() => undefined); // awaited (and reported) when its turn comes
  };

  const results: ScenarioResult[] = [];
  try {
    startNext(0);
    for (let f = 0; f < fleetPlan.length; f += 1) {
      const { strategy, runs } = fleetPlan[f]!;
      let scenarioFleet: ScenarioFleet | undefined;
      try {
        for (let r = 0; r < runs.length; r += 1) {
          const { scenario, durationMs } = runs[r]!;
          const last = r === runs.length - 1;
          progress.begin(scenario === 'plain' ? strategy : `${strategy} / ${scenario}`);
          progress.update({ phase: 'starting', elapsedMs: 0, durationMs, ops: 0, notOk: 0 });
          try {
            if (!scenarioFleet) {
              startNext(f);
              scenarioFleet = await next!;
              next = undefined;
            }
            if (last && quick) startNext(f + 1);
            const result = await scenarioFleet.run({
              scenario,
              durationMs,
              seed,
              callers,
              fault: config.fault,
              // A fault run is about timing, not volume: it runs its full length anyway.
              ...(SCENARIOS[scenario].during ? {} : { minOperations: timings.minOperations }),
              ...(options.signal ? { signal: options.signal } : {}),
              keepHistory: historyDir !== undefined,
              onProgress: (p) => {
                progress.update(p);
                if (last && p.phase === 'checking') startNext(f + 1);
              },
            });
            await saveHistory(result, results.length);
            progress.end(result);
            results.push(result);
          } catch (err) {
            progress.fail(err);
            throw err;
          }
        }
      } finally {
        await scenarioFleet?.dispose();
      }
    }
  } finally {
    if (next)
      await next.then(
        (p) => p.dispose(),
        () => undefined,
      );
  }
  const order = (r: ScenarioResult): number => SCENARIO_NAMES.indexOf(r.scenario);
  const plain = results.filter((r) => r.scenario === 'plain');
  // Scenario table: split view for every strategy, then instance loss.
  const scenarios = results
    .filter((r) => r.scenario !== 'plain')
    .sort((a, b) => order(a) - order(b));

  return finish(plain, scenarios);
}

function validateStrategies(names: readonly string[], option: string): StrategyName[] {
  const out: StrategyName[] = [];
  for (const name of names) {
    const found = STRATEGY_NAMES.find((s) => s === name);
    if (!found)
      throw new InvalidOptionsError(
        option,
        `unknown strategy "${name}"; expected ${STRATEGY_NAMES.join(', ')}`,
      );
    out.push(found);
  }
  return out;
}
