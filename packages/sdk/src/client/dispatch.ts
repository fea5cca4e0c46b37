import type { IncomingHttpHeaders } from 'node:http';
import { DEADLINE_HEADER, OverloadedError, REQUEST_ID_HEADER } from '@keylane/protocol';
import { ConnectionError, NoHealthyInstanceError, RequestTimeoutError } from '../core/errors.js';
import type { ResolvedOptions } from '../core/options.js';
import { describeError } from '../core/describe-error.js';
import { requestChannel, type RequestContext } from '../core/diagnostics.js';
import type { Instance } from '../pool/instance.js';
import type { InstanceSet } from '../pool/instance-set.js';
import type { Call } from './call-options.js';
import { AttemptSignal, exchange } from './exchange.js';
import type { Operation } from './operation.js';
import { TransportFailure, classifyTransportError } from './transport-failure.js';

/** A call's abort: the current attempt's signal, and whether the call's deadline passed. */
interface CallAbort {
  signal: AttemptSignal;
  timedOut: boolean;
}

/** Reads that meet their instance being marked down are rerouted; this bounds the tries. */
const MAX_ATTEMPTS = 3;

/** An attempt ended because its instance was marked down while it was in flight (reads only). */
class InstanceDown extends Error {
  constructor(instanceId: string, cause: unknown) {
    super(`instance ${instanceId} was marked down while the request was in flight`, { cause });
  }
}

/**
 * Sends one operation to its key's owner and sees it through: one deadline for the whole call
 * (sent along, so the service stops when we do), the caller's abort, the retry to the key's
 * next owner when that is safe, and what each answer says about the instance's health,
 * reported to the {@link InstanceSet}. The client checks its own state before calling it.
 */
export class Dispatcher {
  readonly #options: ResolvedOptions;
  readonly #set: InstanceSet;

  constructor(options: ResolvedOptions, set: InstanceSet) {
    this.#options = options;
    this.#set = set;
  }

  async dispatch<T>(operation: Operation<T>, call: Call): Promise<T> {
    const { key } = operation;
    const callerSignal = call.signal;
    callerSignal?.throwIfAborted();
    // Routing throws before any timer exists, so a NoHealthyInstanceError leaves nothing behind.
    let instance = key.safeInteger === undefined ? this.#set.route(key.routing()) : this.#set.routeSafeInteger(key.safeInteger);
    const { requestTimeoutMs } = this.#options;
    // The deadline travels with the request: the service never starts its work after it and
    // its writes cannot commit after it, so a write we give up on cannot land later.
    const deadlineAt = Date.now() + requestTimeoutMs;
    const headers = requestHeaders(operation.body !== undefined, deadlineAt, call);
    if (operation.headers !== undefined) Object.assign(headers, operation.headers);
    // One signal per attempt, not one for the call and another for each read's attempt: the
    // timer and the caller abort whichever attempt is current.
    const abort: CallAbort = { signal: new AttemptSignal(), timedOut: false };
    const timer = setTimeout(() => {
      abort.timedOut = true;
      abort.signal.abort();
    }, requestTimeoutMs);
    const onCallerAbort = (): void => abort.signal.abort();
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      const { metrics } = this.#options;
      for (let attempt = 1; ; attempt++) {
        const sentAt = metrics === null ? 0 : performance.now();
        try {
          const value = requestChannel.hasSubscribers
            ? await this.#tracedAttempt(operation, call, attempt, instance, abort, headers, deadlineAt)
            : await this.#attempt(operation, instance, abort, headers, deadlineAt);
          metrics?.request({ instance: instance.id, method: operation.method, outcome: 'ok', code: undefined, seconds: (performance.now() - sentAt) / 1000 });
          return value;
        } catch (err) {
          metrics?.request({ instance: instance.id, method: operation.method, outcome: 'error', code: attemptCode(err), seconds: (performance.now() - sentAt) / 1000 });
          const from = instance;
          if (callerSignal?.aborted === true) throw callerSignal.reason;
          if (abort.timedOut)
            throw new RequestTimeoutError(instance.id, requestTimeoutMs, { cause: err });
          if (err instanceof InstanceDown) {
            // A read in flight to an instance just marked down: ask the key's new owner.
            if (attempt >= MAX_ATTEMPTS) throw new ConnectionError(instance.id, true, { cause: err });
            instance = this.#set.route(key.routing());
            if (instance !== from) metrics?.reroute({ from: from.id, to: instance.id, code: 'instance_down' });
            continue;
          }
          if (!(err instanceof TransportFailure)) throw err;
          const failure = new ConnectionError(instance.id, err.sent, { cause: err.cause });
          const reason = describeError(err.cause);
          if (err.refused) this.#set.reportConnectionRefused(instance, reason);
          else this.#set.reportRequestFailure(instance, reason, true);
          // Reads are safe to repeat; a write only when the error itself is retryable (the
          // registry's rule, which for a connection failure means it never left this process).
          if (attempt > 1 || !(operation.idempotent || failure.retryable)) throw failure;
          try {
            instance = err.refused ? this.#set.route(key.routing()) : this.#set.routeExcluding(key.routing(), instance);
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
    call: Call,
    attempt: number,
    instance: Instance,
    abort: CallAbort,
    headers: Record<string, string>,
    deadlineAt: number,
  ): Promise<T> {
    const context: RequestContext = {
      method: operation.method,
      key: operation.key.text,
      instance: instance.id,
      attempt,
      requestId: call.requestId,
      traceparent: call.traceparent,
    };
    requestChannel.start.publish(context);
    let promise: Promise<T>;
    try {
      promise = this.#attempt(operation, instance, abort, headers, deadlineAt, context);
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
    abort: CallAbort,
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
    // A read's attempt can also be ended by its instance being marked down; the one it ends is
    // this attempt alone (the retry gets a fresh signal).
    if (abort.signal.aborted) abort.signal = new AttemptSignal();
    const signal = abort.signal;
    let down = false;
    const onDown = operation.idempotent
      ? (): void => {
          down = true;
          signal.abort();
        }
      : undefined;
    if (onDown) instance.inflightReads.add(onDown);
    let status: number;
    let responseHeaders: IncomingHttpHeaders;
    let text: string;
    try {
      const response = await exchange(
        instance.pool,
        { method: operation.method, path: operation.path, headers, body: operation.body ?? null },
        signal,
      );
      status = response.status;
      if (context) context.status = status;
      responseHeaders = response.headers;
      text = response.text;
    } catch (err) {
      if (down && !abort.timedOut) throw new InstanceDown(instance.id, err);
      if (signal.aborted) throw err;
      const kind = classifyTransportError(err);
      if (kind !== null) throw new TransportFailure(kind, err);
      this.#set.reportUnclassifiedFailure(instance);
      throw new ConnectionError(instance.id, true, { cause: err });
    } finally {
      instance.inflight--;
      if (onDown) instance.inflightReads.delete(onDown);
    }
    const answer = operation.answer(status, text, responseHeaders, instance);
    // How long the work takes, not how fast a refusal comes back: `overloaded` answers are
    // quick by design and would make a busy instance look idle.
    if (!('error' in answer && answer.error.code === 'overloaded')) {
      instance.latencyMs = instance.latencyMs * 0.9 + (performance.now() - sentAt) * 0.1;
    }
    if ('value' in answer) {
      this.#set.reportAnswerOk(instance);
      return answer.value;
    }
    // Only an answer that says the instance itself is sick counts against it: a 500, or a 5xx
    // without a protocol body (a proxy, a crash). Answers about this request or about a
    // dependency every instance shares (4xx, overloaded, unavailable, deadline_exceeded,
    // outcome_unknown) say it is alive and serving.
    const sick = status >= 500 && (answer.code === null || answer.code === 'internal');
    this.#set.reportAnswerFailed(instance, sick ? `${operation.method} answered ${status} (${answer.error.code})` : null);
    throw answer.error;
  }
}

function requestHeaders(withBody: boolean, deadline: number, call: Call): Record<string, string> {
  const headers: Record<string, string> = withBody
    ? { accept: 'application/json', 'content-type': 'application/json', [DEADLINE_HEADER]: String(deadline), [REQUEST_ID_HEADER]: call.requestId }
    : { accept: 'application/json', [DEADLINE_HEADER]: String(deadline), [REQUEST_ID_HEADER]: call.requestId };
  if (call.traceparent !== undefined) headers['traceparent'] = call.traceparent;
  if (call.tracestate !== undefined) headers['tracestate'] = call.tracestate;
  return headers;
}

/** What an attempt's span says it failed with: the code the caller would see for it. */
function attemptCode(err: unknown): string {
  if (err instanceof TransportFailure) return 'connection_failed';
  if (err instanceof InstanceDown) return 'instance_down';
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown';
}
