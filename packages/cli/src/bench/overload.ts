import { KeylaneError } from '@keylane/protocol';
import { DEFAULT_CLIENT_OPTIONS } from '@keylane/sdk';
import { startBenchFleet, type BenchFleetOptions } from './fleet-bench.js';
import { describeFailure, runClosedLoop, runOpenLoop } from './load.js';
import { execute, type StepReporter, type TickReporter } from './phases.js';
import type { LatencyPercentiles } from './latency.js';
import type { BenchWorkload } from './workloads.js';

/** How the operations offered past capacity ended. */
export interface OverloadOutcomes {
  /** Operations due in the window (answered or not). */
  sent: number;
  ok: number;
  /**
   * Refused with `overloaded`, by the service (503) or by the SDK before sending (every
   * connection to the owner busy for longer than the deadline): nothing done, an answer.
   */
  overloaded: number;
  /** Refused by the service, `deadline_exceeded` (504): nothing done, an answer within the deadline. */
  deadlineExceeded: number;
  /** Everything else: the SDK's own timeout (`request_timeout`), a connection failure, never answered. */
  other: number;
  /** The first of those, to say what it was. */
  firstOther: string | null;
}

export interface OverloadMeasurement {
  /** ok answers/s of the hot key in a closed loop (serial-guarded, 50/50, `callers` callers). */
  capacity: number;
  callers: number;
  /** Offered rate of the open loop: OVERLOAD_FACTOR x capacity. */
  offeredRate: number;
  /** The SDK's requestTimeoutMs, sent to the instances as x-keylane-deadline. */
  requestTimeoutMs: number;
  durationMs: number;
  outcomes: OverloadOutcomes;
  /** Of the ok answers, from each operation's intended send time. */
  latency: LatencyPercentiles;
}

/** Offered rate over the measured capacity. */
export const OVERLOAD_FACTOR = 2;

/**
 * Goodput (ok answers per second of the window) over capacity, and the share of the operations
 * sent that got an answer within their deadline: ok, or one of the service's two refusals that
 * say nothing was done (`overloaded`, `deadline_exceeded`). Pure.
 */
export function overloadFigures(
  m: Pick<OverloadMeasurement, 'capacity' | 'durationMs' | 'outcomes'>,
): {
  goodput: number;
  goodputOverCapacity: number;
  answeredWithinDeadline: number;
} {
  const { sent, ok, overloaded, deadlineExceeded } = m.outcomes;
  const goodput = m.durationMs > 0 ? (ok * 1000) / m.durationMs : 0;
  return {
    goodput,
    goodputOverCapacity: m.capacity > 0 ? goodput / m.capacity : 0,
    answeredWithinDeadline: sent > 0 ? (ok + overloaded + deadlineExceeded) / sent : 0,
  };
}

export interface OverloadContext extends BenchFleetOptions {
  /** The single-hot-key 50/50 workload. */
  workload: BenchWorkload;
  callers: number;
  warmupMs: number;
  durationMs: number;
  step: StepReporter;
  tick: TickReporter;
}

/** Serial-guarded on a fresh fleet: the hot key's capacity, then twice that offered open-loop. */
export async function measureOverload(ctx: OverloadContext): Promise<OverloadMeasurement> {
  const { client, stop } = await startBenchFleet('serial-guarded', ctx);
  try {
    const run = execute({
      read: (key) => client.get(key),
      write: (key, value) => client.put(key, value),
    });
    const source = (i: number) => ctx.workload.caller(i);
    ctx.step(`overload: hot-key capacity, closed loop (${ctx.callers} callers)`);
    if (ctx.warmupMs > 0)
      await runClosedLoop({
        concurrency: ctx.callers,
        durationMs: ctx.warmupMs,
        source,
        execute: run,
      });
    const closed = await runClosedLoop({
      concurrency: ctx.callers,
      durationMs: ctx.durationMs,
      source,
      execute: run,
      onTick: ctx.tick,
    });
    const offeredRate = Math.max(1, Math.round(closed.throughput * OVERLOAD_FACTOR));
    ctx.step(`overload: ${offeredRate}/s offered (${OVERLOAD_FACTOR}x capacity), open loop`);
    const counts = { overloaded: 0, deadlineExceeded: 0 };
    let firstOther: string | null = null;
    const open = await runOpenLoop({
      ratePerSec: offeredRate,
      durationMs: ctx.durationMs,
      streams: ctx.callers,
      source: (i) => ctx.workload.caller(OVERLOAD_STREAM_OFFSET + i),
      execute: (op) =>
        run(op).catch((err: unknown) => {
          // The SDK's own refusal (every connection busy past the deadline, nothing sent) and
          // the service's answer both carry the code.
          const code = err instanceof KeylaneError ? err.code : null;
          if (code === 'overloaded') counts.overloaded += 1;
          else if (code === 'deadline_exceeded') counts.deadlineExceeded += 1;
          else firstOther ??= describeFailure(err);
          throw err;
        }),
      onTick: ctx.tick,
    });
    const sent = open.ops + open.errors;
    const other = open.errors - counts.overloaded - counts.deadlineExceeded;
    return {
      capacity: closed.throughput,
      callers: ctx.callers,
      offeredRate,
      // The fleet's client is created with the SDK's defaults.
      requestTimeoutMs: DEFAULT_CLIENT_OPTIONS.requestTimeoutMs,
      durationMs: open.durationMs,
      outcomes: {
        sent,
        ok: open.ops,
        ...counts,
        other,
        // Never answered at all: the open loop's own count, not an error seen here.
        firstOther: firstOther ?? (other > 0 ? open.firstError : null),
      },
      latency: open.latency,
    };
  } finally {
    await stop();
  }
}

/** Streams of their own, not the closed loop's sequence replayed. */
const OVERLOAD_STREAM_OFFSET = 20_000;
