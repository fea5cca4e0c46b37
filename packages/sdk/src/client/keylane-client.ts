import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import {
  DEADLINE_HEADER,
  formatLongId,
  itemPath,
  MAX_REQUEST_ID_LENGTH,
  OverloadedError,
  parseLongId,
  REQUEST_ID_HEADER,
  REQUEST_ID_PATTERN,
  routingKey,
  type Item,
  type KeylaneError,
  type LongIdInput,
  type PutItemBody,
} from '@keylane/protocol';
import {
  ClientClosedError,
  ConnectionError,
  InvalidOptionsError,
  NoHealthyInstanceError,
  RequestTimeoutError,
  ServiceError,
} from '../core/errors.js';
import {
  resolveOptions,
  type ClientOptions,
  type ResolvedInstance,
  type ResolvedOptions,
} from '../core/options.js';
import type { DiscoveryError } from '../core/errors.js';
import { describeError } from '../core/describe-error.js';
import { requestChannel, type RequestContext } from '../core/diagnostics.js';
import { DnsDiscovery, type DiscoveryStats } from '../discovery/dns-discovery.js';
import type { Instance, InstanceState, ServiceConnection } from '../pool/instance.js';
import { InstanceSet } from '../pool/instance-set.js';
import type { RoutingStrategy } from '../routing/router.js';
import { errorFromAnswer, parseErrorBody, type FailedAnswer } from './response-errors.js';
import { assertJsonValue } from './json-value.js';
import { TransportFailure, classifyTransportError } from './transport-failure.js';
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

/** A change of membership found by DNS discovery; every list sorted by id. */
export interface InstancesChange {
  added: string[];
  removed: string[];
  /** The whole set now. */
  instances: string[];
}

export interface RequestOptions {
  /** Aborts the call; the promise then rejects with the signal's `reason`. */
  signal?: AbortSignal;
  /**
   * Sent as `x-request-id` (the item service logs under it and echoes it): visible ASCII, at
   * most 128 characters. @default a random UUID per call
   */
  requestId?: string;
  /**
   * A W3C trace context to send as `traceparent` (and `tracestate`), e.g. from your tracer's
   * propagator. The SDK depends on no tracing library. @default none sent
   */
  traceparent?: string;
  tracestate?: string;
}

/** One call's checked options. */
interface Call {
  readonly signal: AbortSignal | undefined;
  readonly requestId: string;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
}

export interface PutOptions extends RequestOptions {
  /** Write only if the item is at this version; `0` means it must not exist yet. */
  ifVersion?: number;
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

export interface ClientStats {
  routing: RoutingStrategy;
  /** Healthy instance ids in routing order (sorted). */
  healthy: string[];
  /** Every instance, sorted by id. */
  instances: InstanceStats[];
  /** The DNS discovery loop; `null` for a static list. */
  discovery: DiscoveryStats | null;
}

/** The outcome of one answered request, decided per operation. */
export type Answer<T> = { readonly value: T } | { readonly error: KeylaneError };

export interface Operation<T> {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  /** Added to the SDK's own headers (`client.request`); never the deadline header. */
  readonly headers?: Readonly<Record<string, string>>;
  /** May be sent twice: only after a connection failure, and only reads. */
  readonly idempotent: boolean;
  answer(status: number, text: string, headers: IncomingHttpHeaders, instance: Instance): Answer<T>;
}

interface ReadyWaiter {
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** Reads that meet their instance being marked down are rerouted; this bounds the tries. */
const MAX_ATTEMPTS = 3;

function requestHeaders(withBody: boolean, deadline: number, call: Call): Record<string, string> {
  const headers: Record<string, string> = withBody
    ? { accept: 'application/json', 'content-type': 'application/json', [DEADLINE_HEADER]: String(deadline), [REQUEST_ID_HEADER]: call.requestId }
    : { accept: 'application/json', [DEADLINE_HEADER]: String(deadline), [REQUEST_ID_HEADER]: call.requestId };
  if (call.traceparent !== undefined) headers['traceparent'] = call.traceparent;
  if (call.tracestate !== undefined) headers['tracestate'] = call.tracestate;
  return headers;
}

/** An attempt ended because its instance was marked down while it was in flight (reads only). */
class InstanceDown extends Error {
  constructor(instanceId: string, cause: unknown) {
    super(`instance ${instanceId} was marked down while the request was in flight`, { cause });
  }
}

/**
 * A health-checked connection pool per item-service instance and the routing that sends
 * every key to the same healthy instance in every caller. Create it with `createClient`.
 */
export class KeylaneClient extends EventEmitter<ClientEvents> {
  readonly #options: ResolvedOptions;
  readonly #set: InstanceSet;
  readonly #readyWaiters = new Set<ReadyWaiter>();
  readonly #discovery: DnsDiscovery | null;
  /** Ids of the last discovered set, sorted; what `instances-changed` diffs against. */
  #discovered: readonly string[] = [];
  #closing: Promise<void> | undefined;

  constructor(options: ClientOptions) {
    super();
    this.#options = resolveOptions(options);
    this.#set = new InstanceSet(this.#options, {
      transition: (instance, _previous, reason) => this.#onTransition(instance, reason),
    });
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
              : describeStates(this.#set.list());
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
    const key = parseLongId(id);
    return this.#execute<Item | null>(
      {
        method: 'GET',
        path: itemPath(key),
        idempotent: true,
        answer: (status, text, headers, instance) => {
          if (status === 200) return readItem(text, status, instance);
          if (status === 404 && parseErrorBody(text)?.code === 'not_found') return { value: null };
          return {
            error: errorFromAnswer(failed(instance, status, text, headers, key, undefined)),
          };
        },
      },
      key,
      checkCall(options),
    );
  }

  /** Writes the item and returns it with its new version. */
  async put(id: LongIdInput, value: unknown, options: PutOptions = {}): Promise<Item> {
    const key = parseLongId(id);
    const { ifVersion } = options;
    if (ifVersion !== undefined && (!Number.isSafeInteger(ifVersion) || ifVersion < 0)) {
      throw new InvalidOptionsError(
        'ifVersion',
        `expected a non-negative integer, got ${String(ifVersion)}`,
      );
    }
    assertJsonValue(value);
    const request: PutItemBody = ifVersion === undefined ? { value } : { value, ifVersion };
    return this.#execute<Item>(
      {
        method: 'PUT',
        path: itemPath(key),
        body: encodeBody(request),
        idempotent: false,
        answer: (status, text, headers, instance) =>
          status === 200
            ? readItem(text, status, instance)
            : { error: errorFromAnswer(failed(instance, status, text, headers, key, ifVersion)) },
      },
      key,
      checkCall(options),
    );
  }

  /** Deletes the item; `false` when it did not exist. */
  async delete(id: LongIdInput, options: RequestOptions = {}): Promise<boolean> {
    const key = parseLongId(id);
    return this.#execute<boolean>(
      {
        method: 'DELETE',
        path: itemPath(key),
        idempotent: false,
        answer: (status, text, headers, instance) => {
          if (status === 204 || status === 200) return { value: true };
          if (status === 404 && parseErrorBody(text)?.code === 'not_found') return { value: false };
          return {
            error: errorFromAnswer(failed(instance, status, text, headers, key, undefined)),
          };
        },
      },
      key,
      checkCall(options),
    );
  }

  /**
   * A request to any route of a service built on the engine, sent to the key's owner with the
   * same routing, health, deadline, timeout and retry rules as `get`/`put`: safe methods (GET,
   * HEAD, OPTIONS) go to the next owner after a broken connection, others only when nothing
   * was sent. See routed-request.ts.
   */
  async request(key: LongIdInput | string, options: RoutedRequestOptions): Promise<RoutedResponse> {
    const { key: routed, operation } = routedOperation(key, options);
    return this.#execute(operation, routed, checkCall(options));
  }

  /** A snapshot of every instance's state, counters and pool. */
  stats(): ClientStats {
    return {
      routing: this.#options.routing,
      healthy: this.healthyInstances(),
      instances: this.#set.list().map((instance) => {
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
      }),
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

  async #execute<T>(operation: Operation<T>, key: bigint | string, call: Call): Promise<T> {
    const callerSignal = call.signal;
    if (this.#closing !== undefined) throw new ClientClosedError();
    callerSignal?.throwIfAborted();
    const routeKey = routingKey(key);
    // Routing throws before any timer exists, so a NoHealthyInstanceError leaves nothing behind.
    let instance = this.#set.route(routeKey);
    const { requestTimeoutMs } = this.#options;
    // The deadline travels with the request: the service never starts its work after it and
    // its writes cannot commit after it, so a write we give up on cannot land later.
    const deadlineAt = Date.now() + requestTimeoutMs;
    const headers = requestHeaders(operation.body !== undefined, deadlineAt, call);
    if (operation.headers !== undefined) Object.assign(headers, operation.headers);
    const deadline = new Deadline();
    const timer = setTimeout(() => deadline.abort(), requestTimeoutMs);
    const onCallerAbort = (): void => deadline.abort();
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      const { metrics } = this.#options;
      for (let attempt = 1; ; attempt++) {
        const sentAt = metrics === null ? 0 : performance.now();
        try {
          const value = requestChannel.hasSubscribers
            ? await this.#tracedAttempt(operation, key, call, attempt, instance, deadline, headers, deadlineAt)
            : await this.#attempt(operation, instance, deadline, headers, deadlineAt);
          metrics?.request({ instance: instance.id, method: operation.method, outcome: 'ok', code: undefined, seconds: (performance.now() - sentAt) / 1000 });
          return value;
        } catch (err) {
          metrics?.request({ instance: instance.id, method: operation.method, outcome: 'error', code: attemptCode(err), seconds: (performance.now() - sentAt) / 1000 });
          const from = instance;
          if (callerSignal?.aborted === true) throw callerSignal.reason;
          if (deadline.aborted)
            throw new RequestTimeoutError(instance.id, requestTimeoutMs, { cause: err });
          if (err instanceof InstanceDown) {
            // A read in flight to an instance just marked down: ask the key's new owner.
            if (attempt >= MAX_ATTEMPTS) throw new ConnectionError(instance.id, true, { cause: err });
            instance = this.#set.route(routeKey);
            if (instance !== from) metrics?.reroute({ from: from.id, to: instance.id, code: 'instance_down' });
            continue;
          }
          if (!(err instanceof TransportFailure)) throw err;
          const failure = new ConnectionError(instance.id, err.sent, { cause: err.cause });
          const reason = describeError(err.cause);
          if (err.refused) this.#set.reportConnectionRefused(instance, reason);
          else this.#set.reportRequestFailure(instance, reason, true);
          // Reads are safe to repeat; a write only when it surely never left this process.
          if (attempt > 1 || (!operation.idempotent && err.sent)) throw failure;
          try {
            instance = err.refused ? this.#set.route(routeKey) : this.#set.routeExcluding(routeKey, instance);
            if (instance !== from) metrics?.reroute({ from: from.id, to: instance.id, code: 'connection_failed' });
          } catch (noneLeft) {
            if (noneLeft instanceof NoHealthyInstanceError) throw failure;
            throw noneLeft;
          }
        }
      }
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
  }

  /** One attempt inside a `keylane:sdk:request` span (only built while someone subscribes). */
  async #tracedAttempt<T>(
    operation: Operation<T>,
    key: bigint | string,
    call: Call,
    attempt: number,
    instance: Instance,
    deadline: Deadline,
    headers: Record<string, string>,
    deadlineAt: number,
  ): Promise<T> {
    const context: RequestContext = {
      method: operation.method,
      key: typeof key === 'bigint' ? formatLongId(key) : key,
      instance: instance.id,
      attempt,
      requestId: call.requestId,
      traceparent: call.traceparent,
    };
    requestChannel.start.publish(context);
    let promise: Promise<T>;
    try {
      promise = this.#attempt(operation, instance, deadline, headers, deadlineAt, context);
    } finally {
      requestChannel.end.publish(context);
    }
    try {
      const value = await promise;
      context.outcome = 'ok';
      context.result = value;
      return value;
    } catch (err) {
      context.outcome = 'error';
      context.error = err;
      context.code = attemptCode(err);
      requestChannel.error.publish(context);
      throw err;
    } finally {
      requestChannel.asyncStart.publish(context);
      requestChannel.asyncEnd.publish(context);
    }
  }

  async #attempt<T>(
    operation: Operation<T>,
    instance: Instance,
    deadline: Deadline,
    headers: Record<string, string>,
    deadlineAt: number,
    context?: RequestContext,
  ): Promise<T> {
    // Backpressure on our side too: when every connection to the instance is busy and the
    // requests already waiting for one would keep this one past its deadline, say so now
    // (nothing was sent) rather than let it time out in our own queue.
    const { connectionsPerInstance } = this.#options;
    const ahead = instance.inflight - connectionsPerInstance;
    if (ahead >= 0 && instance.latencyMs > 0) {
      const waitMs = ((ahead + 1) * instance.latencyMs) / connectionsPerInstance;
      if (waitMs > deadlineAt - Date.now()) {
        throw new OverloadedError(
          `all ${connectionsPerInstance} connections to instance ${instance.id} are busy and ${ahead + 1} requests wait for one (about ${Math.round(waitMs)} ms); this one was not sent`,
          Math.max(100, Math.ceil(waitMs)),
        );
      }
    }
    instance.inflight++;
    const sentAt = performance.now();
    // Reads get their own abort, so the instance being marked down can end this attempt alone.
    let signal = deadline;
    let release: (() => void) | undefined;
    let down = false;
    if (operation.idempotent) {
      const attempt = new Deadline();
      const onDeadline = (): void => attempt.abort();
      const onDown = (): void => {
        down = true;
        attempt.abort();
      };
      deadline.once('abort', onDeadline);
      instance.inflightReads.add(onDown);
      release = () => {
        deadline.off('abort', onDeadline);
        instance.inflightReads.delete(onDown);
      };
      signal = attempt;
    }
    let status: number;
    let responseHeaders: IncomingHttpHeaders;
    let text: string;
    try {
      const response = await instance.pool.request({
        method: operation.method,
        path: operation.path,
        headers,
        body: operation.body ?? null,
        signal,
      });
      status = response.statusCode;
      if (context) context.status = status;
      responseHeaders = response.headers;
      text = await response.body.text();
    } catch (err) {
      if (down && !deadline.aborted) throw new InstanceDown(instance.id, err);
      if (signal.aborted) throw err;
      const kind = classifyTransportError(err);
      if (kind !== null) throw new TransportFailure(kind, err);
      instance.requestsFailed++;
      throw new ConnectionError(instance.id, true, { cause: err });
    } finally {
      instance.inflight--;
      release?.();
    }
    const answer = operation.answer(status, text, responseHeaders, instance);
    // How long the work takes, not how fast a refusal comes back: `overloaded` answers are
    // quick by design and would make a busy instance look idle.
    if (!('error' in answer && answer.error.code === 'overloaded')) {
      instance.latencyMs = instance.latencyMs * 0.9 + (performance.now() - sentAt) * 0.1;
    }
    if ('value' in answer) {
      instance.requestsOk++;
      this.#set.reportRequestSuccess(instance);
      return answer.value;
    }
    instance.requestsFailed++;
    // Only an answer that says the instance itself is sick counts against it: a 500, or a 5xx
    // without a protocol body (a proxy, a crash). Answers about this request or about a
    // dependency every instance shares (4xx, overloaded, unavailable, deadline_exceeded,
    // outcome_unknown) say it is alive and serving.
    const serviceCode = status >= 500 ? (parseErrorBody(text)?.code ?? null) : undefined;
    if (serviceCode === null || serviceCode === 'internal') {
      this.#set.reportRequestFailure(instance, `${operation.method} answered ${status} (${answer.error.code})`, false);
    } else {
      this.#set.reportRequestSuccess(instance);
    }
    throw answer.error;
  }

  #onTransition(instance: Instance, reason: string): void {
    if (instance.state === 'healthy') this.#emitSafely('instance-up', instance.id);
    else if (instance.state === 'unhealthy') this.#emitSafely('instance-down', instance.id, reason);
    this.#settleReadyWaiters();
  }

  #onDiscovered(instances: readonly ResolvedInstance[]): void {
    const ids = instances.map((i) => i.id);
    const before = new Set(this.#discovered);
    const now = new Set(ids);
    const added = ids.filter((id) => !before.has(id));
    const removed = this.#discovered.filter((id) => !now.has(id));
    if (added.length === 0 && removed.length === 0) return;
    this.#discovered = ids;
    void this.#set.setInstances(instances);
    this.#emitSafely('instances-changed', { added, removed, instances: [...ids] });
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

/**
 * What aborts a request: its deadline or the caller's signal. An EventEmitter, not an
 * AbortController: undici takes either as `signal`, and an AbortSignal per request (created,
 * listened to, unlistened) cost 15-40 µs of CPU per call here, a third of the SDK's own share
 * of a cache hit's round trip.
 */
class Deadline extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }
}

function readItem(text: string, status: number, instance: Instance): Answer<Item> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (isItem(json)) return { value: json };
  return { error: new ServiceError(instance.id, status, null, 'the answer is not an item') };
}

function isItem(value: unknown): value is Item {
  if (typeof value !== 'object' || value === null) return false;
  const { id, version } = value as { id?: unknown; version?: unknown };
  return typeof id === 'string' && typeof version === 'number' && 'value' in value;
}

function failed(
  instance: Instance,
  status: number,
  body: string,
  headers: IncomingHttpHeaders,
  key: bigint,
  ifVersion: number | undefined,
): FailedAnswer {
  const retryAfter: unknown = headers['retry-after'];
  return {
    instanceId: instance.id,
    status,
    body,
    retryAfter:
      typeof retryAfter === 'string'
        ? retryAfter
        : Array.isArray(retryAfter)
          ? String(retryAfter[0])
          : undefined,
    id: formatLongId(key),
    ifVersion,
  };
}

function encodeBody(body: PutItemBody): string {
  try {
    return JSON.stringify(body);
  } catch (err) {
    throw new InvalidOptionsError('value', `not serializable as JSON: ${describeError(err)}`);
  }
}

/** What an attempt's span says it failed with: the code the caller would see for it. */
function attemptCode(err: unknown): string {
  if (err instanceof TransportFailure) return 'connection_failed';
  if (err instanceof InstanceDown) return 'instance_down';
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown';
}

// W3C Trace Context, version 00: version-traceid-parentid-flags, lowercase hex.
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

function checkCall(options: RequestOptions): Call {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionsError('options', 'expected an object');
  const { signal, requestId, traceparent, tracestate } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidOptionsError('signal', 'expected an AbortSignal');
  }
  if (requestId !== undefined && (typeof requestId !== 'string' || !REQUEST_ID_PATTERN.test(requestId))) {
    throw new InvalidOptionsError('requestId', `expected 1 to ${MAX_REQUEST_ID_LENGTH} visible ASCII characters, got ${JSON.stringify(requestId)}`);
  }
  if (traceparent !== undefined && (typeof traceparent !== 'string' || !TRACEPARENT.test(traceparent))) {
    throw new InvalidOptionsError('traceparent', `expected a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>), got ${JSON.stringify(traceparent)}`);
  }
  if (tracestate !== undefined && (typeof tracestate !== 'string' || traceparent === undefined || !/^[\x20-\x7e]{0,512}$/.test(tracestate))) {
    throw new InvalidOptionsError('tracestate', 'expected at most 512 visible ASCII characters, and only with traceparent');
  }
  return { signal, requestId: requestId ?? randomUUID(), traceparent, tracestate };
}

function describeStates(instances: readonly Instance[]): string {
  return instances
    .map((i) => `${i.id}=${i.state}${i.lastReason === null ? '' : ` (${i.lastReason})`}`)
    .join(', ');
}
