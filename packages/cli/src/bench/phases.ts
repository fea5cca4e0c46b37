import type { WorkloadOp } from '../workload/index.js';
import { BenchMeasurementError } from './errors.js';
import { runClosedLoop, runOpenLoop, type LoadResult } from './load.js';
import type { EngineCounters } from './metrics.js';
import { WORKLOAD_NAMES, type BenchWorkload, type WorkloadName } from './workloads.js';

/** Something that serves the item API: a fleet through the SDK, or cache-aside in this process. */
export interface ItemTarget {
  read(key: bigint): Promise<unknown>;
  write(key: bigint, value: string): Promise<unknown>;
  /** Engine counters summed over the target's instances, when it has any. */
  counters?: () => Promise<EngineCounters>;
}

export interface LoadSettings {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  /** Offered rate of the open-loop runs (operations per second, all callers together). */
  ratePerSec: number;
}

/** A closed-loop result with the engine's counter deltas over the same window. */
export interface PhaseResult extends LoadResult {
  engine: EngineCounters | null;
}

export interface WorkloadResults {
  closed: Record<WorkloadName, PhaseResult>;
  open: Record<WorkloadName, LoadResult>;
}

export type StepReporter = (label: string) => void;
export type TickReporter = (share: number) => void;

export function execute(target: ItemTarget): (op: WorkloadOp) => Promise<unknown> {
  return (op) => (op.kind === 'read' ? target.read(op.key) : target.write(op.key, op.value));
}

/** Open-loop callers use their own streams, so they do not replay the closed loop's sequence. */
const OPEN_LOOP_STREAM_OFFSET = 10_000;

/** For each workload: a warm-up, the closed loop (with counter deltas), then the open loop. */
export async function runWorkloads(
  target: ItemTarget,
  workloads: Record<WorkloadName, BenchWorkload>,
  settings: LoadSettings,
  label: string,
  step: StepReporter,
  tick: TickReporter,
): Promise<WorkloadResults> {
  const closed = {} as Record<WorkloadName, PhaseResult>;
  const open = {} as Record<WorkloadName, LoadResult>;
  const run = execute(target);
  // Steady state, not a cold start: with a 5-minute TTL every key of a real read-heavy table
  // is cached except those written recently. A cold cache would instead reward whichever
  // system happens to fill it fastest during the warm-up.
  const keys = [...new Set(WORKLOAD_NAMES.flatMap((name) => workloads[name].keys))];
  step(`${label}: filling the cache (${keys.length} keys, each read once)`);
  await readEach(target, keys, settings.concurrency, tick);
  for (const name of WORKLOAD_NAMES) {
    const workload = workloads[name];
    step(`${label}: ${name} closed loop (${settings.concurrency} callers)`);
    if (settings.warmupMs > 0) {
      await runClosedLoop({
        concurrency: settings.concurrency,
        durationMs: settings.warmupMs,
        source: (i) => workload.caller(i),
        execute: run,
      });
    }
    closed[name] = await withCounters(target, () =>
      runClosedLoop({
        concurrency: settings.concurrency,
        durationMs: settings.durationMs,
        source: (i) => workload.caller(i),
        execute: run,
        onTick: tick,
      }),
    );
    step(`${label}: ${name} open loop (${settings.ratePerSec}/s)`);
    open[name] = await runOpenLoop({
      ratePerSec: settings.ratePerSec,
      durationMs: settings.durationMs,
      streams: settings.concurrency,
      source: (i) => workload.caller(OPEN_LOOP_STREAM_OFFSET + i),
      execute: run,
      onTick: tick,
    });
  }
  return { closed, open };
}

/**
 * The read-hit path: every key of a small set is read once (filling the cache), then only
 * those keys are read, so (barring TTL expiry) every measured read is a cache hit.
 */
export async function runReadHit(
  target: ItemTarget,
  keys: readonly bigint[],
  settings: LoadSettings,
  tick: TickReporter,
): Promise<PhaseResult> {
  await readEach(target, keys, 16, () => undefined);
  return withCounters(target, () =>
    runClosedLoop({
      concurrency: settings.concurrency,
      durationMs: settings.durationMs,
      source: (worker) => {
        let i = worker;
        return () => keys[i++ % keys.length]!;
      },
      execute: (key) => target.read(key),
      onTick: tick,
    }),
  );
}

/**
 * Reads every key once with `concurrency` callers (bounded by the key count). A failed read
 * only leaves its key cold; the measured phases count failures. Throws only if most failed.
 */
async function readEach(
  target: ItemTarget,
  keys: readonly bigint[],
  concurrency: number,
  tick: TickReporter,
): Promise<void> {
  let next = 0;
  let failed = 0;
  let firstError: unknown;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, keys.length) }, async () => {
      while (next < keys.length) {
        try {
          await target.read(keys[next++]!);
        } catch (err) {
          failed += 1;
          firstError ??= err;
        }
        if (next % 500 === 0) tick(next / keys.length);
      }
    }),
  );
  if (failed > keys.length / 2) {
    throw new BenchMeasurementError(
      `${failed} of ${keys.length} reads failed while filling the cache`,
      { cause: firstError },
    );
  }
}

async function withCounters(
  target: ItemTarget,
  measure: () => Promise<LoadResult>,
): Promise<PhaseResult> {
  const before = target.counters ? await target.counters() : null;
  const result = await measure();
  const after = target.counters ? await target.counters() : null;
  let engine: EngineCounters | null = null;
  if (before && after) {
    engine = { ...after };
    for (const key of Object.keys(engine) as (keyof EngineCounters)[])
      engine[key] = after[key] - before[key];
  }
  return { ...result, engine };
}
