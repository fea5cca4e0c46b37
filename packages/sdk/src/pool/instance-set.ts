import { NoHealthyInstanceError } from '../core/errors.js';
import type { ResolvedInstance, ResolvedOptions } from '../core/options.js';
import { buildRouteTable, type RouteTable } from '../routing/router.js';
import { HealthChecker, type ProbeResult } from './health-checker.js';
import { Instance, type InstanceState } from './instance.js';

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
 * The fleet as this client sees it: membership, health state, and the routing table built
 * from the healthy members. Membership changes only through `setInstances`; health state
 * only through `#setState`.
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

  /** The owner of a routing key among the healthy instances. */
  route(key: bigint): Instance {
    const route = this.#route;
    if (route === null) throw new NoHealthyInstanceError(this.#noneHealthyMessage());
    return route.instances[route.table.indexOf(key)]!;
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

  /** True once every member has had its first probe answered (none is `unknown`). */
  settled(): boolean {
    for (const { instance } of this.#members.values()) if (instance.state === 'unknown') return false;
    return true;
  }

  /** A 5xx answer to a real request: counts like a failed probe. */
  reportServerError(instance: Instance, reason: string): void {
    this.#onHealthResult(instance, { ok: false, reason });
  }

  /** A connection that failed under a real request: the instance is down at once. */
  reportConnectionFailure(instance: Instance, reason: string): void {
    if (!this.#isMember(instance)) return;
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
    if (previous === 'healthy' || next === 'healthy') this.#rebuildRoute();
    this.#events.transition(instance, previous, reason);
  }

  #rebuildRoute(): void {
    const healthy = [...this.#members.values()].filter((m) => m.instance.state === 'healthy');
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
    const states = this.list()
      .map((i) => `${i.id}=${i.state}${i.lastReason === null ? '' : ` (${i.lastReason})`}`)
      .join(', ');
    return `no healthy instance to route to: ${states}`;
  }
}

async function stopMember({ instance, checker }: Member): Promise<void> {
  await checker.stop();
  // close() lets requests in flight finish; destroy() would fail them for no reason.
  await instance.pool.close();
}
