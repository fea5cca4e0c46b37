import { checkConvergence, checkHistory, HistoryRecorder, type CheckResult } from '@keylane/checker';
import type { Items } from '../../src/items/index.js';
import { sleep } from '../helpers.js';
import { inspect } from '../../src/testing.js';

export interface CheckedWorkloadOptions {
  /** The engines' items, one per engine: caller n's i-th operation goes to side (n + i) mod sides. */
  sides: readonly Pick<Items, 'read' | 'write' | 'entity'>[];
  ids: readonly number[];
  callers: number;
  ms: number;
  /** Share of operations that are writes (each of a fresh value). */
  writeShare: number;
  /** Pause after every operation. @default 0 */
  pauseMs?: number;
  /** Pause after a failed one (a fault in progress). @default 0 */
  failedPauseMs?: number;
}

export interface CheckedWorkloadResult {
  ops: number;
  writesOk: number;
  writesFailed: number;
  writesUnknown: number;
  readsFailed: number;
  /** The recorded history, checked by @keylane/checker. */
  check: CheckResult;
  /** Keys whose cache entry differs from the row at rest (read through the first side). */
  diverged: number;
}

/**
 * Callers reading and writing random keys of `ids` through several engines at once, every
 * operation recorded; then the history checked and each key's cache entry compared with its
 * row at rest. The harness the engine's checked runs share (cluster, replicas, group commit).
 */
export async function runCheckedWorkload(options: CheckedWorkloadOptions): Promise<CheckedWorkloadResult> {
  const { sides, ids } = options;
  const rec = new HistoryRecorder();
  const stop = Date.now() + options.ms;
  const counts = { writesOk: 0, writesFailed: 0, writesUnknown: 0, readsFailed: 0 };
  let seq = 0;
  const caller = async (n: number): Promise<void> => {
    for (let i = 0; Date.now() < stop; i += 1) {
      const side = sides[(n + i) % sides.length]!;
      const id = ids[Math.floor(Math.random() * ids.length)]!;
      let failed = false;
      if (Math.random() < options.writeShare) {
        const value = `c${n}-${(seq += 1)}`;
        const op = rec.begin(`c${n}`, String(id), 'write', value);
        try {
          await side.write(id, value);
          op.ok();
          counts.writesOk += 1;
        } catch (err) {
          failed = true;
          if ((err as { outcomeUnknown?: boolean }).outcomeUnknown) {
            op.unknown();
            counts.writesUnknown += 1;
          } else {
            op.fail();
            counts.writesFailed += 1;
          }
        }
      } else {
        const op = rec.begin(`c${n}`, String(id), 'read');
        try {
          const item = await side.read(id);
          op.ok(item === null ? null : String(item.value));
        } catch {
          failed = true;
          op.fail();
          counts.readsFailed += 1;
        }
      }
      const pause = failed ? (options.failedPauseMs ?? 0) : (options.pauseMs ?? 0);
      if (pause > 0) await sleep(pause);
    }
  };
  await Promise.all(Array.from({ length: options.callers }, (_, n) => caller(n)));
  const entries = await Promise.all(
    ids.map(async (id) => {
      const { cached, stored } = await inspect(sides[0]!.entity, id);
      return {
        key: String(id),
        cached: cached === undefined ? undefined : cached === null ? null : String(cached.value),
        stored: stored === null ? null : String(stored.value),
      };
    }),
  );
  return {
    ops: rec.operations.length,
    ...counts,
    check: checkHistory(rec.operations),
    diverged: checkConvergence(entries).diverged.length,
  };
}
