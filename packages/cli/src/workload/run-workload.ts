import { setTimeout as sleep } from 'node:timers/promises';
import type { HistoryRecorder } from '@keylane/checker';
import { formatLongId, KeylaneError, type Item } from '@keylane/protocol';
import type { Workload } from './workload.js';
import { outcomeOfError } from './outcome.js';

/** The part of an `@keylane/sdk` client the workload drives. */
export interface ItemClient {
  get(id: bigint): Promise<Item | null>;
  put(id: bigint, value: unknown): Promise<Item>;
}

export interface WorkloadCaller {
  /** Recorded as the operation's `process`, and part of every value it writes. */
  name: string;
  client: ItemClient;
  /**
   * Which of the workload's seeded caller streams it follows. @default its position in
   * `callers` (set it when the callers of one workload are spread over processes)
   */
  index?: number;
}

export interface RunWorkloadOptions {
  workload: Workload;
  callers: readonly WorkloadCaller[];
  recorder: HistoryRecorder;
  durationMs: number;
  /**
   * Keep going past `durationMs` until this many operations completed, up to 3 x durationMs:
   * on a slow or busy machine a short run then still does enough work to hit the races.
   * @default 0
   */
  minOperations?: number;
  /** Stops early: callers finish the operation they are in, then return. */
  signal?: AbortSignal;
  /** Called after every completed operation (progress display). */
  onOperation?: (outcome: 'ok' | 'fail' | 'unknown') => void;
  /** A caller sleeps this long after an operation that did not succeed. @default 5 */
  backoffMs?: number;
}

export interface RunWorkloadResult {
  startedNs: bigint;
  endedNs: bigint;
  operations: number;
  /**
   * When the last request the caller gave up on (timeout) began, or null. Such a request may
   * still be running in its instance; a request cut by a connection reset is not.
   */
  lastTimeoutInvokeNs: bigint | null;
}

/**
 * Runs every caller as its own async loop, each issuing one operation at a time from its own
 * seeded stream, until `durationMs` has passed. Every operation goes through the recorder,
 * so the history is complete even for requests that failed or timed out.
 */
export async function runWorkload(options: RunWorkloadOptions): Promise<RunWorkloadResult> {
  const { workload, callers, recorder, durationMs, signal, onOperation } = options;
  const backoffMs = options.backoffMs ?? 5;
  const startedNs = process.hrtime.bigint();
  const deadline = startedNs + BigInt(Math.round(durationMs * 1e6));
  const hardDeadline = startedNs + BigInt(Math.round(3 * durationMs * 1e6));
  const minOperations = options.minOperations ?? 0;
  let operations = 0;
  let lastTimeoutInvokeNs: bigint | null = null;
  const noteTimeout = (err: unknown, invokeNs: bigint): void => {
    if (
      err instanceof KeylaneError &&
      err.code === 'request_timeout' &&
      (lastTimeoutInvokeNs === null || invokeNs > lastTimeoutInvokeNs)
    ) {
      lastTimeoutInvokeNs = invokeNs;
    }
  };
  /** A call that threw: recorded as failed or of unknown outcome, by what the error says. */
  const settleFailed = (
    pending: { fail(): void; unknown(): void },
    err: unknown,
    invokeNs: bigint,
  ): 'fail' | 'unknown' => {
    noteTimeout(err, invokeNs);
    const outcome = outcomeOfError(err);
    if (outcome === 'fail') pending.fail();
    else pending.unknown();
    return outcome;
  };
  const keepGoing = (): boolean => {
    if (signal?.aborted) return false;
    const now = process.hrtime.bigint();
    return now < deadline || (operations < minOperations && now < hardDeadline);
  };

  const loop = async (caller: WorkloadCaller, index: number): Promise<void> => {
    const stream = workload.caller(caller.index ?? index, caller.name);
    while (keepGoing()) {
      const op = stream.next();
      const key = formatLongId(op.key);
      let outcome: 'ok' | 'fail' | 'unknown';
      const invokeNs = process.hrtime.bigint();
      if (op.kind === 'read') {
        const pending = recorder.begin(caller.name, key, 'read');
        try {
          const item = await caller.client.get(op.key);
          pending.ok(item === null ? null : valueText(item.value));
          outcome = 'ok';
        } catch (err) {
          outcome = settleFailed(pending, err, invokeNs);
        }
      } else {
        const pending = recorder.begin(caller.name, key, 'write', op.value);
        try {
          await caller.client.put(op.key, op.value);
          pending.ok();
          outcome = 'ok';
        } catch (err) {
          outcome = settleFailed(pending, err, invokeNs);
        }
      }
      operations += 1;
      onOperation?.(outcome);
      // Without a pause a caller whose instance is down would spin on instant refusals.
      if (outcome !== 'ok') await sleep(backoffMs);
    }
  };

  await Promise.all(callers.map((caller, index) => loop(caller, index)));
  return { startedNs, endedNs: process.hrtime.bigint(), operations, lastTimeoutInvokeNs };
}

/** Values are written as strings; anything else read back is recorded as its JSON text (a garbage read). */
function valueText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
