import { setTimeout as sleep } from 'node:timers/promises';
import { HistoryRecorder } from '@keylane/checker';
import type { StrategyName } from '@keylane/engine/baselines';
import { InvalidOptionsError } from '@keylane/protocol';
import { createClient } from '@keylane/sdk';
import {
  createWorkload,
  runWorkload,
  type RunWorkloadResult,
  type WorkloadCaller,
  type WorkloadOptions,
} from '../../workload/index.js';
import { FleetUnhealthyError, type Fleet } from '../../fleet/index.js';
import { summarizeFault } from '../analysis.js';
import type { EntityAdapter } from '../entities.js';
import type { FaultEvents, FaultTiming } from './fault-plans.js';
import { SCENARIOS, type ScenarioName } from './table.js';
import { analyzeRun, type Inspect, type ScenarioResult } from './verify.js';

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
  /** Scenarios with a fault: when it strikes and how long it lasts. @default the fault plan's (instance loss: 30% and 25% of the run) */
  fault?: FaultTiming;
  /** Stops the callers early; the run then rejects with the abort reason. */
  signal?: AbortSignal;
  onProgress?: (progress: ScenarioProgress) => void;
  /** Keep the full history in the result (large). @default false */
  keepHistory?: boolean;
}

export interface ScenarioProgress {
  phase: 'starting' | 'running' | 'checking' | 'done';
  elapsedMs: number;
  durationMs: number;
  ops: number;
  notOk: number;
  /** Set once per fault event (the instance-loss scenario's kill and restart). */
  event?: string;
}

/**
 * How long the data gets to come to rest after the last caller returned before the cache is
 * compared with the DB. Every fill (chaos-delayed too) finishes before its read answers, and
 * requests a caller gave up on are waited for separately (settleMs), so the one background
 * step left is double-delete's second DEL, 100 ms after its write answered; the rest is slack
 * for a busy machine. Paid once per run (ten times in the demo), so not more than needed.
 */
const SETTLE_MS = 300;
const REQUEST_TIMEOUT_MS = 5_000;

type Client = ReturnType<typeof createClient>;

/** One run of a scenario on a started fleet: its views, its traffic, its fault, its checks. */
export async function runOnFleet(
  strategy: StrategyName,
  fleet: Fleet,
  adapter: EntityAdapter,
  inspect: Inspect,
  options: ScenarioRunOptions,
): Promise<ScenarioResult> {
  const { scenario, seed, durationMs, signal, onProgress, keepHistory = false } = options;
  if (!(durationMs > 0))
    throw new InvalidOptionsError('durationMs', `must be positive, got ${durationMs}`);
  const plan = SCENARIOS[scenario];
  if (fleet.instances.length < plan.minInstances)
    throw new InvalidOptionsError(
      'scenario',
      `${scenario} needs a fleet of at least ${plan.minInstances} instances, this one has ${fleet.instances.length}`,
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
    const views = plan.views.map((view) => view(specs));
    for (const instances of views) {
      clients.push(
        createClient({
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
        }),
      );
    }
    await Promise.all(clients.map((c) => c.ready()));
    await waitAllHealthy(
      clients,
      views.map((v) => v.length),
    );

    const callers: WorkloadCaller[] = Array.from({ length: callerCount }, (_, i) => ({
      name: `c${i}`,
      client: adapter.routed(clients[i % clients.length]!),
    }));

    const fault = plan.during?.prepare({ fleet, full: clients[0]!, workload });
    const startedAt = Date.now();
    report('running', 0);
    const ticker = setInterval(() => report('running', Date.now() - startedAt), 200);
    let run: RunWorkloadResult;
    let events: FaultEvents | undefined;
    try {
      [run, events] = await Promise.all([
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
        fault?.run({
          timing: options.fault ?? plan.during!.defaultTiming(durationMs),
          startedAt,
          ...(signal ? { signal } : {}),
          onEvent: (elapsedMs, event) => report('running', elapsedMs, event),
        }),
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
    if (events) {
      const { victim, killedAtMs, restartedAtMs } = events;
      result.fault = {
        victim,
        killedAtMs,
        restartedAtMs,
        ...summarizeFault(ops, events.faultNs, events.victimKeys),
      };
    }
    report('done', Date.now() - startedAt);
    return result;
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
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
