import type { Operation } from '@keylane/checker';

/**
 * Acknowledged writes lost, per key, given the DB's final value after quiescence.
 *
 * The rule: the final value must come from a write that may have been the last one applied:
 * an `ok` write that no acknowledged write strictly follows in real time (no `ok` write began
 * after it completed), or any `unknown` write (it may have landed at any time after it began). Such writes are the key's *candidates*. When the
 * final value is none of the candidates' values (an older value, a value never written, or
 * absence), every acknowledged candidate was lost: it was confirmed to its caller, nothing
 * acknowledged came after it, and yet the database does not hold it or anything that could
 * have replaced it. Unknown writes count as possibly applied, never as lost.
 */
export interface LostWrite {
  key: string;
  /** The value whose write was acknowledged. */
  value: string;
  /** What the database held at rest. */
  finalValue: string | null;
}

export function findLostAckedWrites(
  ops: Iterable<Operation>,
  finalValues: ReadonlyMap<string, string | null>,
): LostWrite[] {
  const writesByKey = new Map<string, Operation[]>();
  for (const op of ops) {
    if (op.kind !== 'write' || op.outcome === 'fail') continue;
    let list = writesByKey.get(op.key);
    if (!list) writesByKey.set(op.key, (list = []));
    list.push(op);
  }
  const lost: LostWrite[] = [];
  for (const [key, writes] of writesByKey) {
    let latestOkInvoke: bigint | null = null;
    for (const w of writes) {
      if (w.outcome === 'ok' && (latestOkInvoke === null || w.invokeNs > latestOkInvoke))
        latestOkInvoke = w.invokeNs;
    }
    if (latestOkInvoke === null) continue; // nothing acknowledged, nothing to lose
    // An unknown write may take effect any time after it began, so it is always a candidate.
    const okFloor = latestOkInvoke;
    const candidates = writes.filter((w) => w.outcome === 'unknown' || w.completeNs >= okFloor);
    const finalValue = finalValues.has(key) ? (finalValues.get(key) ?? null) : null;
    if (candidates.some((w) => w.value === finalValue)) continue;
    for (const w of candidates) {
      if (w.outcome === 'ok' && w.value !== null) lost.push({ key, value: w.value, finalValue });
    }
  }
  return lost;
}

/** Latency percentiles (ms) of the successful operations, and their rate. */
export interface LatencySummary {
  okOps: number;
  throughputPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export function summarizeLatency(ops: readonly Operation[], durationNs: bigint): LatencySummary {
  const latencies: number[] = [];
  for (const op of ops)
    if (op.outcome === 'ok') latencies.push(Number(op.completeNs - op.invokeNs) / 1e6);
  latencies.sort((a, b) => a - b);
  const seconds = Number(durationNs) / 1e9;
  return {
    okOps: latencies.length,
    throughputPerSec: seconds > 0 ? latencies.length / seconds : 0,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

/** Nearest-rank percentile of sorted values; 0 for none. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** How one instance's loss looked to the callers. */
export interface FaultSummary {
  /** Time from the SIGKILL to the first successful operation on a key the victim owned. */
  rerouteMs: number | null;
  /** Operations that ended after the fault without success (fail or unknown), including those it cut short. */
  failedRequests: number;
}

export function summarizeFault(
  ops: readonly Operation[],
  faultNs: bigint,
  victimKeys: ReadonlySet<string>,
): FaultSummary {
  let firstSuccess: bigint | null = null;
  let failedRequests = 0;
  for (const op of ops) {
    if (op.completeNs < faultNs) continue;
    if (op.outcome !== 'ok') failedRequests += 1;
    else if (
      op.invokeNs >= faultNs &&
      victimKeys.has(op.key) &&
      (firstSuccess === null || op.completeNs < firstSuccess)
    ) {
      firstSuccess = op.completeNs;
    }
  }
  return {
    rerouteMs: firstSuccess === null ? null : Number(firstSuccess - faultNs) / 1e6,
    failedRequests,
  };
}
