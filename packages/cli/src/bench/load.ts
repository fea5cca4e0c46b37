import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyRecorder, type LatencyPercentiles } from './latency.js';

/** One operation against the system under test; rejects on failure. */
export type Execute<Op> = (op: Op) => Promise<unknown>;

export interface LoadResult {
  /** Operations that succeeded. */
  ops: number;
  errors: number;
  /** The first error's message, to say what failed. */
  firstError: string | null;
  durationMs: number;
  /** Successful operations per second of the measured window. */
  throughput: number;
  /**
   * CPU time of this (the load generator's) process over the window, in cores (1.0 = one
   * core busy all along). Near 1 the generator, not the system under test, may be the limit.
   */
  generatorCpu: number;
  latency: LatencyPercentiles;
}

export interface ClosedLoopOptions<Op> {
  concurrency: number;
  durationMs: number;
  /** The operation source of worker `i` (each worker owns one stream). */
  source: (worker: number) => () => Op;
  execute: Execute<Op>;
  /** Called now and then with the elapsed share of the window in [0, 1]. */
  onTick?: (share: number) => void;
  /** Each recorded latency, for a caller that merges several processes' windows. */
  onLatency?: (ms: number) => void;
}

/**
 * Fixed concurrency: each worker sends its next operation when the previous one answered,
 * until the window closes. Throughput is what this measures; its latencies understate the
 * tail (a slow answer delays the sends behind it), which is what the open loop is for.
 */
export async function runClosedLoop<Op>(options: ClosedLoopOptions<Op>): Promise<LoadResult> {
  const recorder = new LatencyRecorder();
  let errors = 0;
  let firstError: string | null = null;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + options.durationMs;
  let lastTick = started;
  const worker = async (index: number): Promise<void> => {
    const next = options.source(index);
    while (performance.now() < deadline) {
      const op = next();
      const sent = performance.now();
      try {
        await options.execute(op);
        const ms = performance.now() - sent;
        recorder.recordMs(ms);
        options.onLatency?.(ms);
      } catch (err) {
        errors += 1;
        firstError ??= describeFailure(err);
      }
      const now = performance.now();
      if (options.onTick && now - lastTick > 250) {
        lastTick = now;
        options.onTick(Math.min(1, (now - started) / options.durationMs));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => worker(i)));
  const durationMs = performance.now() - started;
  return finish(recorder, errors, firstError, durationMs, cpu);
}

export interface OpenLoopOptions<Op> {
  /** Offered rate: operations are due at start + i / rate, whatever the answers do. */
  ratePerSec: number;
  durationMs: number;
  source: (stream: number) => () => Op;
  /** Operations are spread round-robin over this many streams (callers). */
  streams: number;
  execute: Execute<Op>;
  /** A bound on operations in flight; past it, sends wait (and their wait counts as latency). */
  maxInFlight?: number;
  /** How long to wait for the last answers after the window. @default 10_000 */
  drainMs?: number;
  onTick?: (share: number) => void;
  /** Each recorded latency (from the intended send time). */
  onLatency?: (ms: number) => void;
}

/**
 * Fixed offered rate with coordinated-omission correction: every latency is measured from the
 * time the operation was due, not from when it was actually sent, so a stall shows up in the
 * tail as the queue of late sends it causes instead of as a pause in sampling.
 */
export async function runOpenLoop<Op>(options: OpenLoopOptions<Op>): Promise<LoadResult> {
  const recorder = new LatencyRecorder();
  const maxInFlight = options.maxInFlight ?? 4_096;
  const drainMs = options.drainMs ?? 10_000;
  const total = Math.max(1, Math.round((options.ratePerSec * options.durationMs) / 1000));
  const intervalMs = 1000 / options.ratePerSec;
  const sources = Array.from({ length: options.streams }, (_, i) => options.source(i));
  let errors = 0;
  let firstError: string | null = null;
  let inFlight = 0;
  let sent = 0;
  let completed = 0;
  let lastTick = 0;
  const pending = new Set<Promise<void>>();
  const cpu = process.cpuUsage();
  // Answers that arrive after the drain bound are already counted as failures.
  let closed = false;
  const started = performance.now();
  const hardDeadline = started + options.durationMs + drainMs;

  while (sent < total && performance.now() < hardDeadline) {
    const now = performance.now();
    let dueAt = started + sent * intervalMs;
    while (sent < total && dueAt <= now && inFlight < maxInFlight) {
      const op = sources[sent % sources.length]!();
      const intended = dueAt;
      inFlight += 1;
      sent += 1;
      const p = options
        .execute(op)
        .then(
          () => {
            if (closed) return;
            const ms = performance.now() - intended;
            recorder.recordMs(ms);
            options.onLatency?.(ms);
          },
          (err: unknown) => {
            if (closed) return;
            errors += 1;
            firstError ??= describeFailure(err);
          },
        )
        .finally(() => {
          inFlight -= 1;
          if (!closed) completed += 1;
          pending.delete(p);
        });
      pending.add(p);
      dueAt = started + sent * intervalMs;
    }
    if (options.onTick && now - lastTick > 250) {
      lastTick = now;
      options.onTick(Math.min(1, (now - started) / options.durationMs));
    }
    const wait = inFlight >= maxInFlight ? 1 : Math.max(0, dueAt - performance.now());
    // setTimeout's resolution is ~1 ms; below that, yield to I/O and come back at once.
    if (wait >= 1) await sleep(Math.floor(wait));
    else await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const windowMs = performance.now() - started;
  const drained = Promise.all([...pending]);
  const remaining = Math.max(0, hardDeadline - performance.now());
  const ac = new AbortController();
  await Promise.race([
    drained,
    sleep(remaining, undefined, { signal: ac.signal }).catch(() => undefined),
  ]);
  ac.abort();
  closed = true;
  // Due operations that were never sent or never answered within the bound: failures, and
  // their latency is at least the time they have been waiting.
  const unanswered = total - completed;
  if (unanswered > 0) {
    errors += unanswered;
    firstError ??= `${unanswered} operations unanswered ${drainMs} ms after the window`;
  }
  const durationMs = Math.max(windowMs, options.durationMs);
  return finish(recorder, errors, firstError, durationMs, cpu);
}

function finish(
  recorder: LatencyRecorder,
  errors: number,
  firstError: string | null,
  durationMs: number,
  cpuAtStart: NodeJS.CpuUsage,
): LoadResult {
  const used = process.cpuUsage(cpuAtStart);
  const latency = recorder.percentiles();
  recorder.destroy();
  return {
    ops: latency.count,
    errors,
    firstError,
    durationMs,
    throughput: (latency.count * 1000) / durationMs,
    generatorCpu: (used.user + used.system) / 1000 / durationMs,
    latency,
  };
}

/** An error's code and message, for a result's `firstError`. */
export function describeFailure(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
