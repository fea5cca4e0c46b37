import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, ItemService } from './cluster.js';

/**
 * When the fault was in place (the injecting command returned) and when it was over (the
 * healing command returned: healed, started, resumed), on the workload's clock.
 */
export interface FaultWindow {
  startNs: bigint;
  endNs: bigint;
}

export interface Fault {
  /** Short id: test names, result files. */
  id: string;
  /** The README table's row label. */
  label: string;
  /** The item instance the fault hits, or null when it hits every instance (Redis, Postgres). */
  victim: ItemService | null;
  /** A graceful drain promises that no request fails; the others only that none is wrong. */
  expectNoFailedRequests: boolean;
  /** Injects the fault, waits, ends it; resolves once it has ended. */
  inject(cluster: Cluster, workload: WorkloadView): Promise<FaultWindow>;
}

/** What a fault may ask of the running workload. */
export interface WorkloadView {
  /** Writes the host callers have sent to `instance` and not yet heard back from. */
  writesInFlightTo(instance: string): number;
}

const now = (): bigint => process.hrtime.bigint();
const VICTIM: ItemService = 'item-2';
/** How long an instance stays cut off: several probe rounds and request timeouts. */
const OUTAGE_MS = 4_000;

/** A variable of the victim container's environment (what compose gave it), as a number. */
async function containerNumber(cluster: Cluster, service: ItemService, name: string): Promise<number> {
  const env = await cluster.inspect(service, '{{range .Config.Env}}{{println .}}{{end}}');
  const line = env.split('\n').find((l) => l.startsWith(`${name}=`));
  const value = Number(line?.slice(name.length + 1));
  if (!line || !Number.isFinite(value)) throw new Error(`${service} has no numeric ${name} in its environment`);
  return value;
}

export const FAULTS: readonly Fault[] = [
  {
    id: 'kill',
    label: 'kill -9 of an instance, start 3 s later',
    victim: VICTIM,
    expectNoFailedRequests: false,
    async inject(cluster) {
      await cluster.kill(VICTIM);
      const startNs = now();
      await sleep(3_000);
      await cluster.start(VICTIM);
      return { startNs, endNs: now() };
    },
  },
  {
    id: 'flapping',
    label: 'flapping: kill -9 and start, twice',
    victim: VICTIM,
    expectNoFailedRequests: false,
    async inject(cluster) {
      let startNs: bigint | null = null;
      let endNs = now();
      for (let round = 0; round < 2; round += 1) {
        await cluster.kill(VICTIM);
        startNs ??= now();
        await sleep(1_000);
        await cluster.start(VICTIM);
        endNs = now();
        await cluster.waitReady(VICTIM);
        if (round < 1) await sleep(1_000);
      }
      return { startNs: startNs ?? endNs, endNs };
    },
  },
  {
    id: 'pause',
    label: 'docker pause of an instance for markerTtlMs + 1.5 s, writes in flight',
    victim: VICTIM,
    expectNoFailedRequests: false,
    async inject(cluster, workload) {
      const markerTtlMs = await containerNumber(cluster, VICTIM, 'KEYLANE_MARKER_TTL_MS');
      await cluster.pause(VICTIM);
      // The fault is about writes frozen inside the instance: when none happened to be in
      // flight at the freeze (a slow moment on a busy machine), the next ones the callers send
      // it are, so the window starts once one is.
      for (const giveUp = Date.now() + 2_000; workload.writesInFlightTo(VICTIM) === 0 && Date.now() < giveUp; ) {
        await sleep(5);
      }
      const startNs = now();
      await sleep(markerTtlMs + 1_500);
      await cluster.unpause(VICTIM);
      return { startNs, endNs: now() };
    },
  },
  {
    id: 'partition',
    label: 'network partition of an instance from everything (DNS kept), 4 s',
    victim: VICTIM,
    expectNoFailedRequests: false,
    async inject(cluster) {
      await cluster.partition(VICTIM);
      const startNs = now();
      await sleep(OUTAGE_MS);
      await cluster.heal(VICTIM);
      return { startNs, endNs: now() };
    },
  },
  {
    id: 'postgres-cut',
    label: 'an instance cut from Postgres only, 4 s, then healed',
    victim: VICTIM,
    expectNoFailedRequests: false,
    async inject(cluster) {
      await cluster.cutFrom(VICTIM, 'postgres');
      const startNs = now();
      await sleep(OUTAGE_MS);
      await cluster.heal(VICTIM);
      return { startNs, endNs: now() };
    },
  },
  {
    id: 'redis-restart',
    label: 'Redis restart (the cache is emptied)',
    victim: null,
    expectNoFailedRequests: false,
    async inject(cluster) {
      const startNs = now();
      await cluster.restart('redis');
      return { startNs, endNs: now() };
    },
  },
  {
    id: 'redis-pause',
    label: 'Redis paused for 3 s',
    victim: null,
    expectNoFailedRequests: false,
    async inject(cluster) {
      await cluster.pause('redis');
      const startNs = now();
      await sleep(3_000);
      await cluster.unpause('redis');
      return { startNs, endNs: now() };
    },
  },
  {
    id: 'postgres-restart',
    label: 'Postgres restart',
    victim: null,
    expectNoFailedRequests: false,
    async inject(cluster) {
      const startNs = now();
      await cluster.restart('postgres');
      return { startNs, endNs: now() };
    },
  },
  {
    id: 'drain',
    label: 'graceful stop (SIGTERM, drain) under load, then start',
    victim: VICTIM,
    expectNoFailedRequests: true,
    async inject(cluster) {
      // From SIGTERM: the drain is the fault, and routing away happens during it.
      const startNs = now();
      // compose's stop_grace_period: drain + shutdown grace fit inside it.
      await cluster.stop(VICTIM, 30);
      await cluster.start(VICTIM);
      return { startNs, endNs: now() };
    },
  },
];
