import { checkHistory, HistoryRecorder } from '@keylane/checker';
import { createWorkload, runWorkload } from '../workload/index.js';
import type { Item } from '@keylane/protocol';
import type { ItemTarget } from './phases.js';

/** What a checked run found: the checker's verdict over every recorded operation. */
export interface CheckedRun {
  ops: number;
  /** Checker violations: stale reads and their kin. */
  violations: number;
}

/**
 * The demo's workload (64 keys, 4 hot, 70% reads, seeded callers) recorded against one
 * in-process system that carries the demo's injected delays, then checked for
 * linearizability: the same question `keylane demo` asks of the strategies, for a system
 * the fleet does not run (the direct cache-aside, bentocache, the engine embedded).
 */
export async function checkedRun(
  target: ItemTarget,
  options: { seed: number; callers: number; durationMs: number; signal?: AbortSignal },
): Promise<CheckedRun> {
  const recorder = new HistoryRecorder();
  // Every target here answers the item shape (or null); the recorder reads `value` from it.
  const client = {
    get: async (key: bigint) => (await target.read(key)) as Item | null,
    put: async (key: bigint, value: unknown) => (await target.write(key, String(value))) as Item,
  };
  await runWorkload({
    workload: createWorkload({ seed: options.seed }),
    callers: Array.from({ length: options.callers }, (_, i) => ({ name: `c${i}`, client })),
    recorder,
    durationMs: options.durationMs,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  recorder.abandonPending();
  const ops = recorder.operations;
  return { ops: ops.length, violations: checkHistory(ops).violations.length };
}
