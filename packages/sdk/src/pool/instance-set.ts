import { NoHealthyInstanceError } from '../core/errors.js';
import type { ResolvedInstance, ResolvedOptions } from '../core/options.js';
import { buildRouteTable, type RouteTable } from '../routing/router.js';
import { HealthChecker, type ProbeResult } from './health-checker.js';
import { Instance, type InstanceState } from './instance.js';

/** A change of membership found by DNS discovery; every list sorted by id. */
export interface InstancesChange {
  added: string[];
  removed: string[];
  /** The whole set now. */
  instances: string[];
}

export interface InstanceStats {
  id: string;
  url: string;
  state: InstanceState;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  probes: { ok: number; failed: number };
  requests: { ok: number; failed: number; connectionFailures: number };
  /** Why the instance last failed a probe or a request, if it ever did. */
  lastFailure: string | null;
  /** The instance's undici `Pool` stats at this moment. */
  pool: {
    connected: number;
    free: number;
    pending: number;
    queued: number;
    running: number;
    size: number;
  };
}

export interface InstanceSetEvents {
  /** Called after every state change, once per transition. Must not throw. */
  transition(instance: Instance, previous: InstanceState, reason: string): void;
}

/** The routing view of the healthy instances, swapped as one object on each health transition. */
interface Route {
  readonly table: RouteTable;
  /** Aligned with `table.ids`. */
  readonly instances: readonly Instance[];
}

interface Member {
  readonly instance: Instance;
  readonly checker: HealthChecker;
}

/**
 * The fleet as this client sees it: membership, health state, the routing table built from
 * the healthy members, and each member's counters (what `stats()` reports). Membership
 * changes only through `setInstances`; health state only through `#setState`; the request
 * counters only through the `report*` methods the dispatch calls.
 */
export class InstanceSet {
  readonly #options: ResolvedOptions;
  readonly #events: InstanceSetEvents;
  readonly #members = new Map<string, Member>();
  #route: Route | null = null;
  #closed = false;

  constructor(options: ResolvedOptions, events: InstanceSetEvents) {
    this.#options = options;
    this.#events = events;
  }

  /**
   * Makes the members exactly `specs`: new ids get a pool and start probing (as `unknown`),
   * missing ids are stopped and closed. An id whose URL changed is replaced.
   */
  async setInstances(specs: readonly ResolvedInstance[]): Promise<void> {
    if (this.#closed) return;
    const wanted = new Map(specs.map((spec) => [spec.id, spec]));
    const removed: Member[] = [];
    for (const [id, member] of this.#members) {
      if (wanted.get(id)?.url !== member.instance.url) {
        this.#members.delete(id);
        removed.push(member);
      }
    }
    const added: Member[] = [];
    for (const spec of specs) {
      if (this.#members.has(spec.id)) continue;
      const instance = new Instance(spec, this.#options.connectionsPerInstance);
      const checker = new HealthChecker(spec.url, this.#options.healthCheck, (result) =>
        this.#onHealthResult(instance, result, true),
      );
      const member = { instance, checker };
      this.#members.set(spec.id, member);
      added.push(member);
    }
    if (removed.some((member) => member.instance.state === 'healthy')) this.#rebuildRoute();
    for (const member of added) member.checker.start();
    await Promise.all(removed.map((member) => stopMember(member)));
  }

  /**
   * `setInstances` for a discovered set: `null` when its ids are the members' ids already
   * (nothing is touched), otherwise the members become `specs` (old pools close in the
   * background) and the difference by id is returned. `specs` is sorted by id.
   */
  replace(specs: readonly ResolvedInstance[]): InstancesChange | null {
    if (this.#closed) return null;
    const ids = specs.map((spec) => spec.id);
    const now = new Set(ids);
    const added = ids.filter((id) => !this.#members.has(id));
    const removed = this.list()
      .map((i) => i.id)
      .filter((id) => !now.has(id));
    if (added.length === 0 && removed.length === 0) return null;
    void this.setInstances(specs);
    return { added, removed, instances: ids };
  }

  /** The owner of a routing key among the healthy instances. */
  route(key: bigint): Instance {
    const route = this.#route;
    if (route === null) throw new NoHealthyInstanceError(this.#noneHealthyMessage());
    return route.instances[route.table.indexOf(key)]!;
  }

  /**
   * The owner of a routing key if `excluded` were down: where a read goes again after its
   * connection to `excluded` broke, without taking `excluded` out of routing on one failure.
   * Builds a route table on the spot: failures only, never the hot path.
   */
  routeExcluding(key: bigint, excluded: Instance): Instance {
    const route = this.#route;
    const rest = route?.instances.filter((i) => i !== excluded) ?? [];
    if (rest.length === 0) throw new NoHealthyInstanceError(this.#noneHealthyMessage());
    if (rest.length === route?.instances.length) return this.route(key);
    const table = buildRouteTable(this.#options.routing, rest.map((i) => i.id));
    const byId = new Map(rest.map((i) => [i.id, i]));
    return byId.get(table.ids[table.indexOf(key)]!)!;
  }

  /** `route` for a key given as a safe-integer long id: no BigInt on the hot path. */
  routeSafeInteger(id: number): Instance {
    const route = this.#route;
    if (route === null) throw new NoHealthyInstanceError(this.#noneHealthyMessage());
    return route.instances[route.table.indexOfSafeInteger(id)]!;
  }

  /** Healthy ids in routing order (sorted). */
  healthyIds(): readonly string[] {
    return this.#route?.table.ids ?? [];
  }

  /** All members, sorted by id. */
  list(): Instance[] {
    return [...this.#members.values()].map((m) => m.instance).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Every member's state, counters and pool, sorted by id. */
  stats(): InstanceStats[] {
    return this.list().map((instance) => {
      const pool = instance.pool.stats;
      return {
        id: instance.id,
        url: instance.url,
        state: instance.state,
        consecutiveFailures: instance.consecutiveFailures,
        consecutiveSuccesses: instance.consecutiveSuccesses,
        probes: { ok: instance.probesOk, failed: instance.probesFailed },
        requests: {
          ok: instance.requestsOk,
          failed: instance.requestsFailed,
          connectionFailures: instance.connectionFailures,
        },
        lastFailure: instance.lastReason,
        pool: {
          connected: pool.connected,
          free: pool.free,
          pending: pool.pending,
          queued: pool.queued,
          running: pool.running,
          size: pool.size,
        },
      };
    });
  }

  /** `id=state (last reason), ...` for every member: what an error says when none can serve. */
  describeStates(): string {
    return this.list()
      .map((i) => `${i.id}=${i.state}${i.lastReason === null ? '' : ` (${i.lastReason})`}`)
      .join(', ');
  }

  /** True once every member has had its first probe answered (none is `unknown`). */
  settled(): boolean {
    for (const { instance } of this.#members.values()) if (instance.state === 'unknown') return false;
    return true;
  }

  /**
   * A real request failed in a way that may say something about the instance (a broken
   * connection, a 500): it is marked down after `requestFailureThreshold` in a row.
   */
  reportRequestFailure(instance: Instance, reason: string, connection: boolean): void {
    if (!this.#isMember(instance)) return;
    if (connection) instance.connectionFailures++;
    instance.requestFailureStreak++;
    instance.lastReason = reason;
    if (instance.state === 'healthy' && instance.requestFailureStreak >= this.#options.healthCheck.requestFailureThreshold) {
      this.#setState(instance, 'unhealthy', `${instance.requestFailureStreak} requests failed in a row: ${reason}`);
    }
  }

  /** A request got the answer its operation wanted: counted, and the streak of failures ends. */
  reportAnswerOk(instance: Instance): void {
    instance.requestsOk++;
    instance.requestFailureStreak = 0;
  }

  /**
   * A request got an error answer. `sick` is why, when the answer says the instance itself is
   * sick; `null` when it is about the request or a shared dependency: then the instance gave
   * it on its own, alive and serving, and the streak of failures ends.
   */
  reportAnswerFailed(instance: Instance, sick: string | null): void {
    instance.requestsFailed++;
    if (sick === null) instance.requestFailureStreak = 0;
    else this.reportRequestFailure(instance, sick, false);
  }

  /** A request failed in undici for a reason that says nothing sure about the instance: counted only. */
  reportUnclassifiedFailure(instance: Instance): void {
    instance.requestsFailed++;
  }

  /** Nothing listens at the instance's address: it is down at once, no need to wait for more. */
  reportConnectionRefused(instance: Instance, reason: string): void {
    if (!this.#isMember(instance)) return;
    if (instance.degraded) {
      // Not even degraded: nothing listens.
      instance.degraded = false;
      if (instance.state !== 'healthy') this.#rebuildRoute();
    }
    instance.connectionFailures++;
    instance.consecutiveFailures++;
    instance.consecutiveSuccesses = 0;
    if (instance.state === 'healthy') this.#setState(instance, 'unhealthy', reason);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const members = [...this.#members.values()];
    this.#members.clear();
    this.#route = null;
    await Promise.all(members.map((member) => stopMember(member)));
  }

  #onHealthResult(instance: Instance, result: ProbeResult, fromProbe = false): void {
    if (!this.#isMember(instance)) return;
    const { healthyThreshold, unhealthyThreshold } = this.#options.healthCheck;
    const degraded = !result.ok && result.degraded === true;
    if (degraded !== instance.degraded) {
      instance.degraded = degraded;
      if (instance.state !== 'healthy') this.#rebuildRoute();
    }
    if (result.ok) {
      instance.probesOk++;
      instance.consecutiveSuccesses++;
      instance.consecutiveFailures = 0;
      // A new instance needs one good probe; a down one must prove itself `healthyThreshold` times.
      if (
        instance.state === 'unknown' ||
        (instance.state === 'unhealthy' && instance.consecutiveSuccesses >= healthyThreshold)
      ) {
        this.#setState(instance, 'healthy', 'probe succeeded');
      }
    } else {
      if (fromProbe) instance.probesFailed++;
      instance.consecutiveFailures++;
      instance.consecutiveSuccesses = 0;
      instance.lastReason = result.reason;
      if (
        instance.state === 'unknown' ||
        (instance.state === 'healthy' && instance.consecutiveFailures >= unhealthyThreshold)
      ) {
        this.#setState(instance, 'unhealthy', result.reason);
      }
    }
  }

  /** The one place an instance's state changes. */
  #setState(instance: Instance, next: InstanceState, reason: string): void {
    const previous = instance.state;
    if (previous === next) return;
    instance.state = next;
    if (next === 'unhealthy') instance.lastReason = reason;
    if (next === 'healthy') instance.requestFailureStreak = 0;
    if (previous === 'healthy' || next === 'healthy') this.#rebuildRoute();
    // Reads in flight to an instance just marked down go to its keys' new owner instead of
    // waiting out their deadline there.
    if (next === 'unhealthy') for (const abort of [...instance.inflightReads]) abort();
    this.#events.transition(instance, previous, reason);
  }

  #rebuildRoute(): void {
    let healthy = [...this.#members.values()].filter((m) => m.instance.state === 'healthy');
    // With no instance healthy (a dependency every instance shares is away), the degraded ones
    // still serve what they can: cache hits while Postgres is gone, reads while Redis is.
    if (healthy.length === 0) {
      healthy = [...this.#members.values()].filter((m) => m.instance.state === 'unhealthy' && m.instance.degraded);
    }
    if (healthy.length === 0) {
      this.#route = null;
      return;
    }
    const byId = new Map(healthy.map((m) => [m.instance.id, m.instance]));
    const table = buildRouteTable(this.#options.routing, [...byId.keys()]);
    this.#route = { table, instances: table.ids.map((id) => byId.get(id)!) };
  }

  #isMember(instance: Instance): boolean {
    return this.#members.get(instance.id)?.instance === instance;
  }

  #noneHealthyMessage(): string {
    if (this.#closed) return 'no healthy instance: the client is closed';
    return `no healthy instance to route to: ${this.describeStates()}`;
  }
}

async function stopMember({ instance, checker }: Member): Promise<void> {
  await checker.stop();
  // close() lets requests in flight finish; destroy() would fail them for no reason.
  await instance.pool.close();
}
