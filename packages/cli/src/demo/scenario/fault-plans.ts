import { setTimeout as sleep } from 'node:timers/promises';
import type { Fleet } from '../../fleet/index.js';
import type { Workload } from '../../workload/index.js';
import { formatLongId } from '@keylane/protocol';
import type { createClient } from '@keylane/sdk';

type Client = ReturnType<typeof createClient>;

/** When the fault strikes and how long it lasts, in ms from the start of the callers. */
export interface FaultTiming {
  atMs: number;
  downMs: number;
}

/** What a fault did, in ms from the start of the callers. */
export interface FaultEvents {
  victim: string;
  /** The keys the victim owned in the full view: the ones whose traffic the fault hits. */
  victimKeys: ReadonlySet<string>;
  /** `process.hrtime.bigint()` at the fault, to split the history into before and after. */
  faultNs: bigint;
  killedAtMs: number;
  restartedAtMs: number | null;
}

/** A fault injected while the callers run. */
export interface FaultPlan {
  /** The fault's timing when the run does not say: fractions of the run's length. */
  defaultTiming(durationMs: number): FaultTiming;
  /**
   * Picks the victim (before the callers start, through the full view) and returns the fault
   * to start beside them.
   */
  prepare(input: { fleet: Fleet; full: Client; workload: Workload }): {
    victim: string;
    run(input: {
      timing: FaultTiming;
      startedAt: number;
      signal?: AbortSignal;
      onEvent: (elapsedMs: number, event: string) => void;
    }): Promise<FaultEvents>;
  };
}

/** SIGKILL the owner of the hottest key, so the loss hits traffic; restart it after `downMs`. */
export const killOwnerOfHottestKey: FaultPlan = {
  defaultTiming: (durationMs) => ({
    atMs: Math.round(durationMs * 0.3),
    downMs: Math.round(durationMs * 0.25),
  }),
  prepare({ fleet, full, workload }) {
    const victim = full.getServiceConnection(workload.hotKeys[0] ?? workload.keys[0]!).instanceId;
    const victimKeys = new Set(
      workload.keys
        .filter((k) => full.getServiceConnection(k).instanceId === victim)
        .map(formatLongId),
    );
    return {
      victim,
      async run({ timing, startedAt, signal, onEvent }) {
        const sleepOptions = signal ? { signal } : {};
        await sleep(timing.atMs, undefined, sleepOptions);
        const faultNs = process.hrtime.bigint();
        const killedAtMs = Date.now() - startedAt;
        await fleet.kill(victim, 'SIGKILL');
        onEvent(killedAtMs, `killed ${victim} (SIGKILL)`);
        await sleep(timing.downMs, undefined, sleepOptions);
        await fleet.restart(victim);
        const restartedAtMs = Date.now() - startedAt;
        onEvent(restartedAtMs, `restarted ${victim}`);
        return { victim, victimKeys, faultNs, killedAtMs, restartedAtMs };
      },
    };
  },
};
