import { setTimeout as sleep } from 'node:timers/promises';
import { HistoryRecorder, type Operation } from '@keylane/checker';
import { entityAdapter, percentile, runWorkload, verifyRun, type ItemClient, type RunVerdict } from '@keylane/cli';
import { createEngine } from '@keylane/engine';
import { createWorkload } from '@keylane/cli';
import { formatLongId, HEALTH_READY_PATH, isErrorCode, isRetryable } from '@keylane/protocol';
import { createClient, type KeylaneClient } from '@keylane/sdk';
import { ITEM_SERVICES, type Cluster, type ItemService } from './cluster.js';
import type { Fault } from './faults.js';
import { summarizeWitness, type WitnessSummary } from './witness.js';

/** The timeline of one run: steady load, the fault, load while the fleet recovers. */
export const RUN_TIMING = {
  /** Load before the fault. */
  warmMs: 1_500,
  /** Load after the fault ended and the victim is back in every caller's rotation. */
  afterMs: 3_000,
  /** Upper bound for the victim to come back after the fault ended. */
  backTimeoutMs: 30_000,
  /** Upper bound for every lane of every instance to be idle once the callers stopped. */
  restTimeoutMs: 20_000,
} as const;

/** Host callers: one async loop each, spread over two SDK clients (two caller services' views). */
export const HOST_CALLERS = 12;
const SDK_CLIENTS = 2;

export interface FaultResult extends RunVerdict {
  fault: string;
  label: string;
  strategy: string;
  durationMs: number;
  ops: number;
  okOps: number;
  /** Operations that did not succeed (refused, failed or unknown outcome), the whole run. */
  failedRequests: number;
  /**
   * Per key the victim owned: from the fault to the first success of an operation on that key
   * routed to another instance. Null when the fault has no victim, or no key moved.
   */
  routeAwayP50Ms: number | null;
  routeAwayP99Ms: number | null;
  /**
   * From the end of the fault until the fleet serves normally again: the victim is back in
   * every client's rotation and the last operation that did not succeed has ended.
   */
  recoverMs: number;
  /** From the fault until no client routes to the victim any more (null: no victim, or it never left). */
  leftRotationMs: number | null;
  /** From the end of the fault until every client routes to the victim again (null: no victim). */
  backInRotationMs: number | null;
  /** Writes routed to the victim that were in flight when the fault began. */
  writesInFlightAtFault: number;
  witness: WitnessSummary;
}

const ns = (): bigint => process.hrtime.bigint();
const ms = (d: bigint): number => Number(d) / 1e6;

/** Each caller's routing at invocation, in call order (a caller runs one operation at a time). */
class RoutingLog {
  private readonly byCaller = new Map<string, string[]>();
  private readonly writesInFlight = new Map<string, number>();

  writesInFlightTo(instance: string): number {
    return this.writesInFlight.get(instance) ?? 0;
  }

  wrap(name: string, client: KeylaneClient): ItemClient {
    const routed: string[] = [];
    this.byCaller.set(name, routed);
    const note = (id: bigint): string => {
      let instance = '(none)';
      try {
        instance = client.getServiceConnection(id).instanceId;
      } catch {
        // no healthy instance: the SDK refuses the call itself
      }
      routed.push(instance);
      return instance;
    };
    return {
      get: (id) => {
        note(id);
        return client.get(id);
      },
      put: (id, value) => {
        const instance = note(id);
        this.writesInFlight.set(instance, this.writesInFlightTo(instance) + 1);
        return client.put(id, value).finally(() => {
          this.writesInFlight.set(instance, this.writesInFlightTo(instance) - 1);
        });
      },
    };
  }

  /** Instance each recorded operation was routed to (same order as the recorder's begin calls). */
  attribute(ops: readonly Operation[]): Map<Operation, string> {
    const result = new Map<Operation, string>();
    const perCaller = new Map<string, Operation[]>();
    for (const op of ops) {
      let list = perCaller.get(op.process);
      if (!list) perCaller.set(op.process, (list = []));
      list.push(op);
    }
    for (const [caller, list] of perCaller) {
      const routed = this.byCaller.get(caller) ?? [];
      list.sort((a, b) => (a.invokeNs < b.invokeNs ? -1 : a.invokeNs > b.invokeNs ? 1 : 0));
      list.forEach((op, i) => result.set(op, routed[i] ?? '(unknown)'));
    }
    return result;
  }
}

/** Polls every client's healthy set: when the victim left all of them, and came back to all. */
class RotationWatch {
  leftNs: bigint | null = null;
  backNs: bigint | null = null;
  private timer: NodeJS.Timeout | undefined;
  private faultEndNs: bigint | null = null;

  constructor(
    private readonly clients: readonly KeylaneClient[],
    private readonly victim: ItemService | null,
  ) {}

  start(): void {
    if (!this.victim) return;
    const victim = this.victim;
    this.timer = setInterval(() => {
      const inAll = this.clients.every((c) => c.healthyInstances().includes(victim));
      const inNone = this.clients.every((c) => !c.healthyInstances().includes(victim));
      if (inNone && this.leftNs === null) this.leftNs = ns();
      if (inAll && this.faultEndNs !== null && this.backNs === null) this.backNs = ns();
    }, 10);
  }

  faultEnded(atNs: bigint): void {
    this.faultEndNs = atNs;
  }

  async waitBack(timeoutMs: number): Promise<void> {
    if (!this.victim) return;
    const deadline = Date.now() + timeoutMs;
    while (this.backNs === null) {
      if (Date.now() > deadline) throw new Error(`${this.victim} did not come back into rotation within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Every lane of every instance idle (nothing queued or running): the data is at rest. */
async function waitAtRest(cluster: Cluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const busy = await Promise.all(
      ITEM_SERVICES.map(async (service) => {
        const res = await fetch(`${await cluster.itemUrl(service)}/metrics`, { signal: AbortSignal.timeout(2_000) });
        const text = await res.text();
        return /^keylane_lane_(running|queue_depth)\{[^}]*\} [1-9]/m.test(text);
      }),
    );
    if (!busy.includes(true)) return;
    if (Date.now() > deadline) throw new Error(`lanes still busy ${timeoutMs} ms after the callers stopped`);
    await sleep(100);
  }
}

/** A delete through the fleet, repeated while the answer is retryable and time is left. */
async function deleteRetrying(client: KeylaneClient, key: bigint, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await client.delete(key);
      return;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (!isErrorCode(code) || !isRetryable(code) || Date.now() > deadline) throw err;
      await sleep(Math.min(50 * 2 ** attempt, 1_000));
    }
  }
}

/**
 * The host history's verdict (see `verifyRun`): the cache and the database are read directly
 * (no lane, no guard) for every key the run touched.
 */
async function verifyAtRest(cluster: Cluster, ops: readonly Operation[]): Promise<RunVerdict> {
  // The schema and prefix compose.yaml gives the fleet (KEYLANE_DB_SCHEMA, KEYLANE_CACHE_PREFIX).
  const engine = await createEngine({
    postgres: { connectionString: await cluster.databaseUrl() },
    redis: { url: await cluster.redisUrl(), keyPrefix: 'kl' },
    lanes: 1,
  });
  try {
    return await verifyRun(ops, entityAdapter('items').inspector(engine, 'keylane'));
  } finally {
    await engine.close();
  }
}

async function strategyOf(cluster: Cluster): Promise<string> {
  const res = await fetch(`${await cluster.itemUrl('item-1')}${HEALTH_READY_PATH}`);
  const body = (await res.json()) as { strategy?: unknown };
  return typeof body.strategy === 'string' ? body.strategy : 'unknown';
}

/**
 * One fault on a running workload: steady load, the fault, load until the fleet recovered,
 * then every operation checked (linearizability per key, the cache against the database at
 * rest, acknowledged writes present) and the example caller's log read as a second witness.
 */
export async function runFault(cluster: Cluster, fault: Fault, seed: number): Promise<FaultResult> {
  await cluster.waitAllReady();
  const strategy = await strategyOf(cluster);
  const instances = await Promise.all(ITEM_SERVICES.map(async (id) => ({ id, url: await cluster.itemUrl(id) })));
  const clients = Array.from({ length: SDK_CLIENTS }, () => createClient({ instances }));
  const rotation = new RotationWatch(clients, fault.victim);
  try {
    await Promise.all(clients.map((c) => c.ready()));
    const workload = createWorkload({ seed, keys: 48, hotKeys: 4 });
    const recorder = new HistoryRecorder();
    const routing = new RoutingLog();
    const callers = Array.from({ length: HOST_CALLERS }, (_, i) => {
      const name = `c${i}`;
      return { name, client: routing.wrap(name, clients[i % SDK_CLIENTS] as KeylaneClient) };
    });
    // Every run starts from absent keys (the checker's initial state), deleted through the
    // fleet itself so the cache is invalidated by the same guard; earlier runs wrote them.
    // The previous fault may leave lanes busy (and their job-time estimates high), so wait
    // for rest and retry what the registry calls retryable (overloaded, unavailable).
    await waitAtRest(cluster, RUN_TIMING.restTimeoutMs);
    await Promise.all(workload.keys.map((k) => deleteRetrying(clients[0] as KeylaneClient, k, RUN_TIMING.restTimeoutMs)));
    const victimKeys = new Set(
      fault.victim === null
        ? []
        : workload.keys.filter((k) => clients[0]?.getServiceConnection(k).instanceId === fault.victim).map(formatLongId),
    );

    const wallStart = new Date();
    const stop = new AbortController();
    rotation.start();
    const faultTask = (async () => {
      await sleep(RUN_TIMING.warmMs);
      const window = await fault.inject(cluster, routing);
      rotation.faultEnded(window.endNs);
      await rotation.waitBack(RUN_TIMING.backTimeoutMs);
      await sleep(RUN_TIMING.afterMs);
      return window;
    })().finally(() => stop.abort());
    const [run, window] = await Promise.all([
      runWorkload({ workload, callers, recorder, durationMs: 10 * 60_000, signal: stop.signal }),
      faultTask,
    ]);
    rotation.stop();
    recorder.abandonPending();
    await waitAtRest(cluster, RUN_TIMING.restTimeoutMs);
    const wallEnd = new Date();

    const ops = recorder.operations;
    const routed = routing.attribute(ops);
    const touched = [...new Set(ops.map((op) => op.key))];
    const verdict = await verifyAtRest(cluster, ops);
    const witness = summarizeWitness(await cluster.logs('example-caller', wallStart, wallEnd));
    const shared = witness.keys.filter((k) => touched.includes(String(k)));
    if (shared.length > 0) throw new Error(`seed ${seed} gives the host workload the example caller's keys ${shared.join(', ')}`);

    // Route away: per victim key, the first success elsewhere after the fault began.
    const firstElsewhere = new Map<string, bigint>();
    for (const op of ops) {
      if (!victimKeys.has(op.key) || op.outcome !== 'ok' || op.invokeNs < window.startNs) continue;
      if (routed.get(op) === fault.victim) continue;
      const seen = firstElsewhere.get(op.key);
      if (seen === undefined || op.completeNs < seen) firstElsewhere.set(op.key, op.completeNs);
    }
    const routeAway = [...firstElsewhere.values()].map((t) => ms(t - window.startNs)).sort((a, b) => a - b);

    let lastFailureEnd = window.endNs;
    for (const op of ops) {
      if (op.outcome !== 'ok' && op.invokeNs >= window.endNs && op.completeNs > lastFailureEnd) lastFailureEnd = op.completeNs;
    }
    const backNs = rotation.backNs ?? window.endNs;
    const recoverNs = lastFailureEnd > backNs ? lastFailureEnd : backNs;

    return {
      fault: fault.id,
      label: fault.label,
      strategy,
      durationMs: ms(run.endedNs - run.startedNs),
      ops: ops.length,
      okOps: ops.filter((op) => op.outcome === 'ok').length,
      failedRequests: ops.filter((op) => op.outcome !== 'ok').length,
      ...verdict,
      routeAwayP50Ms: routeAway.length > 0 ? percentile(routeAway, 0.5) : null,
      routeAwayP99Ms: routeAway.length > 0 ? percentile(routeAway, 0.99) : null,
      recoverMs: Math.max(0, ms(recoverNs - window.endNs)),
      leftRotationMs: rotation.leftNs === null ? null : ms(rotation.leftNs - window.startNs),
      backInRotationMs: fault.victim && rotation.backNs !== null ? ms(rotation.backNs - window.endNs) : null,
      writesInFlightAtFault: ops.filter(
        (op) => op.kind === 'write' && routed.get(op) === fault.victim && op.invokeNs < window.startNs && op.completeNs > window.startNs,
      ).length,
      witness,
    };
  } finally {
    rotation.stop();
    await Promise.all(clients.map((c) => c.close()));
  }
}
