import { EventEmitter } from 'node:events';
import { parseLongId, routingKey, type Item, type LongIdInput } from '@keylane/protocol';
import { ClientClosedError, NoHealthyInstanceError, type DiscoveryError } from '../core/errors.js';
import type { ClientOptions, ResolvedInstance, ResolvedOptions } from '../core/options.js';
import { resolveOptions } from '../core/resolve-options.js';
import { DnsDiscovery, type DiscoveryStats } from '../discovery/dns-discovery.js';
import type { Instance, ServiceConnection } from '../pool/instance.js';
import { InstanceSet, type InstancesChange, type InstanceStats } from '../pool/instance-set.js';
import type { RoutingStrategy } from '../routing/router.js';
import { checkCall, type RequestOptions } from './call-options.js';
import { Dispatcher } from './dispatch.js';
import { deleteItem, getItem, putItem, type PutOptions } from './item-operations.js';
import type { Operation } from './operation.js';
import { routedOperation, type RoutedRequestOptions, type RoutedResponse } from './routed-request.js';

/** Events a client emits. */
export interface ClientEvents {
  /** The instance became healthy and now receives keys. Once per transition. */
  'instance-up': [instanceId: string];
  /** The instance became unhealthy (or failed its first probe); its keys moved to the others. Once per transition. */
  'instance-down': [instanceId: string, reason: string];
  /** DNS discovery: the answer's set of instances differs from the last one (the first answer included). */
  'instances-changed': [change: InstancesChange];
  /** DNS discovery: one resolution failed (once per failed refresh); the last good set stands. */
  'discovery-error': [error: DiscoveryError];
}

export interface ClientStats {
  routing: RoutingStrategy;
  /** Healthy instance ids in routing order (sorted). */
  healthy: string[];
  /** Every instance, sorted by id. */
  instances: InstanceStats[];
  /** The DNS discovery loop; `null` for a static list. */
  discovery: DiscoveryStats | null;
}

interface ReadyWaiter {
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A health-checked connection pool per item-service instance and the routing that sends
 * every key to the same healthy instance in every caller. Create it with `createClient`.
 *
 * This class is the lifecycle (ready, close, the events) and membership (a static list or DNS
 * discovery feeding the {@link InstanceSet}); what a call sends is in item-operations.ts and
 * routed-request.ts, and how it is sent, timed out and retried is in dispatch.ts.
 */
export class KeylaneClient extends EventEmitter<ClientEvents> {
  readonly #options: ResolvedOptions;
  readonly #set: InstanceSet;
  readonly #dispatcher: Dispatcher;
  readonly #readyWaiters = new Set<ReadyWaiter>();
  readonly #discovery: DnsDiscovery | null;
  #closing: Promise<void> | undefined;

  constructor(options: ClientOptions) {
    super();
    this.#options = resolveOptions(options);
    this.#set = new InstanceSet(this.#options, {
      transition: (instance, _previous, reason) => this.#onTransition(instance, reason),
    });
    this.#dispatcher = new Dispatcher(this.#options, this.#set);
    const { discovery } = this.#options;
    if (discovery === null) {
      this.#discovery = null;
      void this.#set.setInstances(this.#options.instances);
    } else {
      this.#discovery = new DnsDiscovery(discovery, {
        resolved: (instances) => this.#onDiscovered(instances),
        failed: (error) => this.#onDiscoveryError(error),
      });
      this.#discovery.start();
    }
  }

  /** The routing strategy in use. */
  get routing(): RoutingStrategy {
    return this.#options.routing;
  }

  /**
   * Resolves once every instance has answered its first probe and at least one is healthy;
   * with DNS discovery, after the first good answer. Rejects with `NoHealthyInstanceError`
   * after `readyTimeoutMs`, and with `DiscoveryError` while no resolution has succeeded and
   * the last one failed.
   */
  ready(): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new ClientClosedError());
    const discoveryFailed = this.#discovery?.initialError ?? null;
    if (discoveryFailed !== null) return Promise.reject(discoveryFailed);
    if (this.#isReady()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: ReadyWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#readyWaiters.delete(waiter);
          const states =
            this.#discovery?.resolved === false
              ? `DNS name ${JSON.stringify(this.#discovery.host)} has not answered yet`
              : this.#set.describeStates();
          reject(
            new NoHealthyInstanceError(
              `not ready after ${this.#options.readyTimeoutMs} ms: ${states}`,
            ),
          );
        }, this.#options.readyTimeoutMs),
      };
      this.#readyWaiters.add(waiter);
    });
  }

  /**
   * The healthy instance that owns `key`, chosen by the routing strategy. Synchronous and
   * allocation-free apart from the key itself. A key is a long id (bigint, safe integer) or
   * a string key (a UUID, a slug): a string routes as `routingKey` of `@keylane/protocol` says,
   * so a canonical decimal string routes as the long it spells and any other string by its
   * hash, exactly as an engine's lanes and string-keyed entities route it. Throws
   * `InvalidKeyError` for a bad key and `NoHealthyInstanceError` when no instance is healthy.
   */
  getServiceConnection(key: LongIdInput): ServiceConnection {
    if (this.#closing !== undefined) throw new ClientClosedError();
    // Numbers are the common case in JS callers; they route without allocating a BigInt.
    if (typeof key === 'number' && Number.isSafeInteger(key)) return this.#set.routeSafeInteger(key).connection;
    return this.#set.route(typeof key === 'string' ? routingKey(key) : routingKey(parseLongId(key))).connection;
  }

  /**
   * The instance ids routing uses now, sorted: the healthy ones, or the degraded ones when
   * none is healthy.
   */
  healthyInstances(): string[] {
    return [...this.#set.healthyIds()];
  }

  /** The item, or `null` when it does not exist. */
  async get(id: LongIdInput, options: RequestOptions = {}): Promise<Item | null> {
    return this.#dispatch(getItem(id), options);
  }

  /** Writes the item and returns it with its new version. */
  async put(id: LongIdInput, value: unknown, options: PutOptions = {}): Promise<Item> {
    return this.#dispatch(putItem(id, value, options), options);
  }

  /** Deletes the item; `false` when it did not exist. */
  async delete(id: LongIdInput, options: RequestOptions = {}): Promise<boolean> {
    return this.#dispatch(deleteItem(id), options);
  }

  /**
   * A request to any route of a service built on the engine, sent to the key's owner with the
   * same routing, health, deadline, timeout and retry rules as `get`/`put`: safe methods (GET,
   * HEAD, OPTIONS) go to the next owner after a broken connection, others only when nothing
   * was sent. See routed-request.ts.
   */
  async request(key: LongIdInput | string, options: RoutedRequestOptions): Promise<RoutedResponse> {
    return this.#dispatch(routedOperation(key, options), options);
  }

  /** A snapshot of every instance's state, counters and pool. */
  stats(): ClientStats {
    return {
      routing: this.#options.routing,
      healthy: this.healthyInstances(),
      instances: this.#set.stats(),
      discovery: this.#discovery?.stats() ?? null,
    };
  }

  /** Stops probing and closes every pool once its requests in flight are done. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const waiter of this.#readyWaiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new ClientClosedError());
    }
    this.#readyWaiters.clear();
    await this.#discovery?.stop();
    await this.#set.close();
  }

  /**
   * The operation is built (its key and body checked) before the call's options, and both
   * before the client's state: a caller's mistake is reported as such even on a closed client.
   */
  #dispatch<T>(operation: Operation<T>, options: RequestOptions): Promise<T> {
    const call = checkCall(options);
    if (this.#closing !== undefined) return Promise.reject(new ClientClosedError());
    return this.#dispatcher.dispatch(operation, call);
  }

  #onTransition(instance: Instance, reason: string): void {
    if (instance.state === 'healthy') this.#emitSafely('instance-up', instance.id);
    else if (instance.state === 'unhealthy') this.#emitSafely('instance-down', instance.id, reason);
    this.#settleReadyWaiters();
  }

  #onDiscovered(instances: readonly ResolvedInstance[]): void {
    const change = this.#set.replace(instances);
    if (change === null) return;
    this.#emitSafely('instances-changed', change);
    // A removal can make the set settled without any health transition.
    this.#settleReadyWaiters();
  }

  #onDiscoveryError(error: DiscoveryError): void {
    this.#emitSafely('discovery-error', error);
    if (this.#discovery?.resolved === false) {
      for (const waiter of this.#readyWaiters) {
        clearTimeout(waiter.timer);
        waiter.reject(error);
      }
      this.#readyWaiters.clear();
    }
  }

  #emitSafely<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void {
    try {
      // The emitter's typing cannot follow K through a rest tuple; the signature above checks it.
      (this.emit as (event: K, ...args: ClientEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      // A throwing listener must not break health tracking or discovery; surface it as a sync emit would.
      process.nextTick(() => {
        throw err;
      });
    }
  }

  #settleReadyWaiters(): void {
    if (this.#readyWaiters.size === 0 || !this.#isReady()) return;
    for (const waiter of this.#readyWaiters) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.#readyWaiters.clear();
  }

  #isReady(): boolean {
    return (
      (this.#discovery?.resolved ?? true) &&
      this.#set.settled() &&
      this.#set.healthyIds().length > 0
    );
  }
}

/** Creates a client and starts health checking at once; `await client.ready()` before routing. */
export function createClient(options: ClientOptions): KeylaneClient {
  return new KeylaneClient(options);
}
