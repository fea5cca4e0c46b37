import { setTimeout as sleep } from 'node:timers/promises';
import {
  checkConvergence,
  checkHistory,
  countKindsFound,
  formatViolation,
  HistoryRecorder,
  type ConvergenceEntry,
  type Operation,
  type ViolationKind,
} from '@keylane/checker';
import type { ReplicaReadStats } from '@keylane/engine';
import { createEngine, type StrategyName } from '@keylane/engine/baselines';
import { formatLongId, InvalidOptionsError, parseLongId } from '@keylane/protocol';
import { createClient } from '@keylane/sdk';
import {
  createScratchNames,
  createWorkload,
  DEFAULT_FLEET_OPTIONS,
  dropScratch,
  FleetUnhealthyError,
  resetScratch,
  startFleet,
  type Fleet,
  DEFAULT_CHAOS,
  runWorkload,
  type FleetChaos,
  type RunWorkloadResult,
  type WorkloadCaller,
  type WorkloadOptions,
} from '@keylane/fleet';
import { findLostAckedWrites, summarizeFault, summarizeLatency } from './analysis.js';
import {
  entityAdapter,
  type DemoEntity,
  type EntityAdapter,
  type RegisterAtRest,
} from './entities.js';

/**
 * - `plain`: every caller sees all instances.
 * - `split-view`: half the callers see all instances, half see all but the first, as when
 *   health views disagree; modulo routing then sends many keys to two instances at once.
 * - `instance-loss`: one instance is SIGKILLed mid-run and restarted a little later.
 */
export type ScenarioName = 'plain' | 'split-view' | 'instance-loss';
export const SCENARIO_NAMES: readonly ScenarioName[] = ['plain', 'split-view', 'instance-loss'];

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

/** What one run on a fleet does. */
export interface ScenarioRunOptions {
  scenario: ScenarioName;
  seed: number;
  /** How long the callers run. */
  durationMs: number;
  /** Concurrent callers. @default 16 */
  callers?: number;
  /** See `RunWorkloadOptions.minOperations`. @default 0 */
  minOperations?: number;
  /** Shape of the key space and the read/write mix (the seed comes from `seed`). */
  workload?: Omit<WorkloadOptions, 'seed'>;
  /** `instance-loss`: when the victim is killed and how long it stays down. @default 30% and 25% of the run */
  fault?: { atMs: number; downMs: number };
  /** Stops the callers early; the run then rejects with the abort reason. */
  signal?: AbortSignal;
  onProgress?: (progress: ScenarioProgress) => void;
  /** Keep the full history in the result (large). @default false */
  keepHistory?: boolean;
}

export type ScenarioOptions = ScenarioFleetOptions & ScenarioRunOptions;

// The injected delays every run uses, in the fleet package beside FleetChaos (the bench's
// checked runs use them too).
export { DEFAULT_CHAOS };

/**
 * How long the data gets to come to rest after the last caller returned before the cache is
 * compared with the DB. Every fill (chaos-delayed too) finishes before its read answers, and
 * requests a caller gave up on are waited for separately (settleMs), so the one background
 * step left is double-delete's second DEL, 100 ms after its write answered; the rest is slack
 * for a busy machine. Paid once per run (ten times in the demo), so not more than needed.
 */
const SETTLE_MS = 300;
const REQUEST_TIMEOUT_MS = 5_000;

export interface ScenarioProgress {
  phase: 'starting' | 'running' | 'checking' | 'done';
  elapsedMs: number;
  durationMs: number;
  ops: number;
  notOk: number;
  /** Set once, when the instance-loss scenario kills or restarts its victim. */
  event?: string;
}

export interface ScenarioResult {
  strategy: StrategyName;
  scenario: ScenarioName;
  seed: number;
  durationMs: number;
  ops: number;
  okOps: number;
  failedOps: number;
  unknownOps: number;
  /** Checker violations (stale reads and their kin). */
  violations: number;
  violationsByKind: Partial<Record<ViolationKind, number>>;
  /** Up to three violations, formatted for people. */
  violationExamples: string[];
  keysChecked: number;
  /** Keys whose cached entry differs from the DB row at rest. */
  divergedKeys: number;
  divergedExamples: string[];
  /** See `findLostAckedWrites` for the rule. */
  ackedWritesLost: number;
  lostExamples: string[];
  throughputPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** With a replica (`runEmbedded`'s `replica`): where the misses that could use it were read. */
  replicaReads?: ReplicaReadStats;
  /** `instance-loss` only. */
  fault?: {
    victim: string;
    killedAtMs: number;
    restartedAtMs: number | null;
    rerouteMs: number | null;
    failedRequests: number;
  };
  /** The full history, when asked for. */
  history?: readonly Operation[];
  /** Where the demo wrote this run's history (checker JSONL), with `--history-dir`. */
  historyFile?: string;
}

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
          return await execute(strategy, fleet, adapter, inspect, runOptions);
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

type Client = ReturnType<typeof createClient>;

async function execute(
  strategy: StrategyName,
  fleet: Fleet,
  adapter: EntityAdapter,
  inspect: Inspect,
  options: ScenarioRunOptions,
): Promise<ScenarioResult> {
  const { scenario, seed, durationMs, signal, onProgress, keepHistory = false } = options;
  if (!(durationMs > 0))
    throw new InvalidOptionsError('durationMs', `must be positive, got ${durationMs}`);
  if (scenario !== 'plain' && fleet.instances.length < 2)
    throw new InvalidOptionsError(
      'scenario',
      `${scenario} needs a fleet of at least 2 instances, this one has ${fleet.instances.length}`,
    );
  const callerCount = options.callers ?? 16;
  const workload = createWorkload({ ...options.workload, seed });
  const recorder = new HistoryRecorder();
  const progress = { ops: 0, notOk: 0 };
  const report = (phase: ScenarioProgress['phase'], elapsedMs: number, event?: string): void =>
    onProgress?.({ phase, elapsedMs, durationMs, ...progress, ...(event ? { event } : {}) });

  const clients: Client[] = [];
  try {
    const specs = fleet.instances.map((i) => ({ id: i.id, url: i.url }));
    const newClient = (instances: typeof specs): Client => {
      const client = createClient({
        instances,
        routing: 'modulo',
        healthCheck: {
          intervalMs: 200,
          timeoutMs: 500,
          unhealthyThreshold: 2,
          healthyThreshold: 1,
        },
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        readyTimeoutMs: 10_000,
      });
      clients.push(client);
      return client;
    };
    const full = newClient(specs);
    // The partial view misses the first instance: with modulo routing over 2 instead of 3,
    // two thirds of the keys go to a different instance than the full view sends them to, and
    // so do all four hot edge keys (without the last instance instead, 2^63-1 and 0 would land
    // on the same instance in both views, halving the contested traffic and the races).
    if (scenario === 'split-view') newClient(specs.slice(1));
    await Promise.all(clients.map((c) => c.ready()));
    await waitAllHealthy(
      clients,
      clients.map((_, i) => specs.length - i),
    );

    const callers: WorkloadCaller[] = Array.from({ length: callerCount }, (_, i) => ({
      name: `c${i}`,
      client: adapter.routed(clients[i % clients.length]!),
    }));

    // Instance loss: kill the owner of the hottest key, so the loss hits traffic.
    let faultPlan: { victim: string; victimKeys: Set<string> } | undefined;
    if (scenario === 'instance-loss') {
      const victim = full.getServiceConnection(workload.hotKeys[0] ?? workload.keys[0]!).instanceId;
      const victimKeys = new Set(
        workload.keys
          .filter((k) => full.getServiceConnection(k).instanceId === victim)
          .map(formatLongId),
      );
      faultPlan = { victim, victimKeys };
    }

    const startedAt = Date.now();
    report('running', 0);
    const ticker = setInterval(() => report('running', Date.now() - startedAt), 200);
    let faultNs: bigint | null = null;
    let killedAtMs = 0;
    let restartedAtMs: number | null = null;
    const faultTask = async (): Promise<void> => {
      if (!faultPlan) return;
      const atMs = options.fault?.atMs ?? Math.round(durationMs * 0.3);
      const downMs = options.fault?.downMs ?? Math.round(durationMs * 0.25);
      const sleepOptions = signal ? { signal } : {};
      await sleep(atMs, undefined, sleepOptions);
      faultNs = process.hrtime.bigint();
      killedAtMs = Date.now() - startedAt;
      await fleet.kill(faultPlan.victim, 'SIGKILL');
      report('running', killedAtMs, `killed ${faultPlan.victim} (SIGKILL)`);
      await sleep(downMs, undefined, sleepOptions);
      await fleet.restart(faultPlan.victim);
      restartedAtMs = Date.now() - startedAt;
      report('running', restartedAtMs, `restarted ${faultPlan.victim}`);
    };

    let run: RunWorkloadResult;
    try {
      [run] = await Promise.all([
        runWorkload({
          workload,
          callers,
          recorder,
          durationMs,
          ...(options.minOperations !== undefined ? { minOperations: options.minOperations } : {}),
          ...(signal ? { signal } : {}),
          onOperation(outcome) {
            progress.ops += 1;
            if (outcome !== 'ok') progress.notOk += 1;
          },
        }),
        faultTask(),
      ]);
    } finally {
      clearInterval(ticker);
    }
    signal?.throwIfAborted();
    report('checking', Date.now() - startedAt);

    // At rest: every caller has returned; background steps get time to land.
    recorder.abandonPending();
    const ops = recorder.operations;
    await sleep(settleMs(run));

    const result = await analyzeRun({ strategy, scenario, seed, ops, run, inspect, keepHistory });
    if (faultPlan && faultNs !== null) {
      const fault = summarizeFault(ops, faultNs, faultPlan.victimKeys);
      result.fault = { victim: faultPlan.victim, killedAtMs, restartedAtMs, ...fault };
    }
    report('done', Date.now() - startedAt);
    return result;
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
}

/** What a finished run shows: the history checked, the data at rest compared, the latencies. */
export async function analyzeRun(input: {
  strategy: StrategyName;
  scenario: ScenarioName;
  seed: number;
  ops: readonly Operation[];
  run: Pick<RunWorkloadResult, 'startedNs' | 'endedNs'>;
  /** Reads the cache and the rows directly, for the at-rest comparison. */
  inspect: Inspect;
  keepHistory: boolean;
}): Promise<ScenarioResult> {
  const { strategy, scenario, seed, ops, run, inspect, keepHistory } = input;
  const unknownOps = ops.filter((op) => op.outcome === 'unknown').length;
  const check = checkHistory(ops);
  const touched = [...new Set(ops.map((op) => op.key))];
  const { entries, finalValues } = await inspectKeys(inspect, touched);
  const convergence = checkConvergence(entries);
  const lost = findLostAckedWrites(ops, finalValues);
  const latency = summarizeLatency(ops, run.endedNs - run.startedNs);

  return {
    strategy,
    scenario,
    seed,
    durationMs: Number(run.endedNs - run.startedNs) / 1e6,
    ops: ops.length,
    okOps: latency.okOps,
    failedOps: ops.filter((op) => op.outcome === 'fail').length,
    unknownOps,
    violations: check.violations.length,
    violationsByKind: countKindsFound(check.violations),
    violationExamples: check.violations.slice(0, 3).map(formatViolation),
    keysChecked: check.keysChecked,
    divergedKeys: convergence.diverged.length,
    divergedExamples: convergence.diverged.slice(0, 3).map((d) => d.message),
    ackedWritesLost: lost.length,
    lostExamples: lost
      .slice(0, 3)
      .map(
        (l) =>
          `key ${l.key}: acknowledged write ${JSON.stringify(l.value)} lost, DB holds ${JSON.stringify(l.finalValue)}`,
      ),
    throughputPerSec: latency.throughputPerSec,
    p50Ms: latency.p50Ms,
    p99Ms: latency.p99Ms,
    ...(keepHistory ? { history: ops } : {}),
  };
}

/** A request the caller gave up on may still run in its instance for about one request timeout. */
function settleMs(run: RunWorkloadResult): number {
  if (run.lastTimeoutInvokeNs === null) return SETTLE_MS;
  const untilNs =
    run.lastTimeoutInvokeNs + BigInt(REQUEST_TIMEOUT_MS) * 1_000_000n - process.hrtime.bigint();
  return SETTLE_MS + Math.max(0, Number(untilNs / 1_000_000n));
}

/** Every view must be settled before the run, or the first moments measure start-up, not routing. */
async function waitAllHealthy(clients: Client[], expected: number[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (clients.some((c, i) => c.healthyInstances().length < (expected[i] ?? 0))) {
    if (Date.now() > deadline)
      throw new FleetUnhealthyError(
        "the fleet's instances did not all turn healthy in the SDK within 10 s",
      );
    await sleep(20);
  }
}

/** Reads a key's register as cached and as stored, directly (no lane, no guard). */
export type Inspect = (key: bigint) => Promise<RegisterAtRest>;

/** Every key's cached entry and DB row, for the convergence check and the lost-write count. */
async function inspectKeys(
  inspect: Inspect,
  keys: readonly string[],
): Promise<{ entries: ConvergenceEntry[]; finalValues: Map<string, string | null> }> {
  const entries: ConvergenceEntry[] = [];
  const finalValues = new Map<string, string | null>();
  for (const key of keys) {
    const { cached, stored } = await inspect(parseLongId(key));
    entries.push({ key, cached, stored });
    finalValues.set(key, stored);
  }
  return { entries, finalValues };
}
