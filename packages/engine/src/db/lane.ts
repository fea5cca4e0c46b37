import { OverloadedError, UnavailableError } from '@keylane/protocol';
import PQueue from 'p-queue';
import pg from 'pg';
import { channels, type LaneWaitContext } from '../diagnostics.js';
import type { LaneStats } from '../types.js';
import { FENCE_SETUP } from './fence.js';
import { Session } from './session.js';

// A black-holed Postgres must not hold a lane (and everything queued behind it) forever.
export const CONNECT_TIMEOUT_MS = 5_000;

/**
 * How long a lane waits for any answer to a statement before it presumes Postgres unreachable
 * and drops the connection: twice the server's own statement_timeout, at least a second more,
 * so a live server always cancels first (a clean refusal) and only silence trips this. 0 = none.
 */
export function queryTimeoutMs(statementTimeoutMs: number): number {
  return statementTimeoutMs === 0 ? 0 : statementTimeoutMs + Math.max(1_000, statementTimeoutMs);
}

/** The pg client config every engine connection uses: the user's, plus the engine's timeouts. */
export function clientConfig(base: pg.ClientConfig, statementTimeoutMs: number): pg.ClientConfig {
  return {
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    ...base,
    statement_timeout: statementTimeoutMs,
    query_timeout: queryTimeoutMs(statementTimeoutMs),
    // A peer that vanished without a FIN must eventually break the lane's socket.
    keepAlive: true,
  };
}

/**
 * How much before a job's deadline a lane gives up on it: its caller must hear `overloaded`
 * before its own timer fires, across the network and the event loop.
 */
export const ANSWER_MARGIN_MS = 50;

/** Why a caller's signal aborted, as an Error (an abort() without a reason gets the DOM's AbortError). */
function reasonOf(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(`the caller went away: ${String(reason)}`);
}

/** What a job's caller allows it: a deadline (epoch ms, this clock) and a signal that it went away. */
export interface Admission {
  deadline?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface LaneOptions {
  index: number;
  /** The engine's id, for diagnostics events. */
  engine: number;
  postgres: pg.ClientConfig;
  /** Postgres' statement_timeout for the lane's connection; 0 for none. */
  statementTimeoutMs: number;
  maxQueue: number;
  /** Longest expected queue wait a job is admitted to; 0: no bound. */
  maxQueueWaitMs: number;
  /** Called when the lane's connection reports an error, breaks or cannot be opened. */
  onDbError: (err: unknown, lane: number) => void;
  /** Called when the lane opened a connection. */
  onConnected: (lane: number) => void;
}

/**
 * One keyed DB connection with a concurrency-1 queue. The queue, not the socket, is what
 * serializes a key's work: when the connection breaks the lane opens a new one before its
 * next job and keeps every queued job in order.
 */
export class Lane {
  readonly index: number;
  private readonly queue = new PQueue({ concurrency: 1 });
  private current: pg.Client;
  private healthy = false;
  private connecting: Promise<void> | undefined;
  /** True until `connect()` was called on `current`. */
  private fresh = true;
  /** Recent job duration (ms, exponentially weighted): what admission estimates waits from. */
  private jobMs = 0;
  /** Set when a job found the commit fence gone (DISCARD TEMP, a DROP): reinstall before the next job. */
  private fenceLost = false;
  /** When the statement the lane waits on was sent (undefined: not waiting for Postgres). */
  private sentAt: number | undefined;
  /** When the stall watch last saw this lane's backend running that statement. */
  private activeSeenAt: number | undefined;

  constructor(private readonly options: LaneOptions) {
    this.index = options.index;
    this.current = this.newClient();
  }

  /** The connection the lane uses now (replaced after a break). */
  get client(): pg.Client {
    return this.current;
  }

  get connected(): boolean {
    return this.healthy;
  }

  /** Opens the first connection; `createEngine` fails if this fails. */
  async start(): Promise<void> {
    await this.ensureConnected();
  }

  /**
   * Queues `job` behind this lane's earlier jobs. Refuses with `OverloadedError` when
   * `maxQueue` jobs already wait, so a stuck lane cannot grow memory without bound, and, for a
   * job with a deadline, when the lane cannot reach it in time: at once if the queue ahead will
   * plainly take longer (from the lane's recent job times), else when the deadline is about to
   * pass while it still waits (then it leaves the queue, and its caller hears before its own
   * timer fires). A job whose caller went away (`signal`) leaves the queue too. Once a job has
   * started it always runs to the end. The job's session is closed when it settles.
   */
  run<T>(job: (session: Session) => Promise<T>, admission: Admission = {}): Promise<T> {
    if (this.queue.size >= this.options.maxQueue) {
      return Promise.reject(
        new OverloadedError(`lane ${this.index} has ${this.queue.size} queued jobs (maxQueuePerLane)`),
      );
    }
    const { deadline, signal } = admission;
    if (signal?.aborted) return Promise.reject(reasonOf(signal));
    const { maxQueueWaitMs } = this.options;
    if (maxQueueWaitMs > 0 && this.expectedWaitMs() > maxQueueWaitMs) return Promise.reject(this.late(this.expectedWaitMs(), 'maxQueueWaitMs'));
    let abort: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    let onCallerGone: (() => void) | undefined;
    if (deadline !== undefined || signal !== undefined) {
      abort = new AbortController();
      const controller = abort;
      if (deadline !== undefined) {
        // The job must not only start but finish in time: count its own expected duration.
        const wait = this.expectedWaitMs();
        const left = deadline - Date.now() - ANSWER_MARGIN_MS - this.jobMs;
        if (left <= 0 || wait > left) {
          return Promise.reject(this.late(wait));
        }
        timer = setTimeout(() => controller.abort(this.late(this.expectedWaitMs())), left);
      }
      if (signal !== undefined) {
        onCallerGone = () => controller.abort(reasonOf(signal));
        signal.addEventListener('abort', onCallerGone, { once: true });
      }
    }
    const waited: LaneWaitContext | undefined = channels.laneWait.hasSubscribers
      ? { engine: this.options.engine, lane: this.index, ahead: this.queue.size + this.queue.pending }
      : undefined;
    if (waited) channels.laneWait.start.publish(waited);
    let begun = false;
    const started = (): void => {
      // From here on the job runs to its end: nothing may abort it half-way.
      clearTimeout(timer);
      if (onCallerGone) signal?.removeEventListener('abort', onCallerGone);
    };
    const run = async (): Promise<T> => {
      started();
      begun = true;
      if (waited) {
        channels.laneWait.asyncStart.publish(waited);
        channels.laneWait.asyncEnd.publish(waited);
      }
      const began = performance.now();
      await this.ensureConnected();
      const client = this.current;
      const session = new Session(
        client,
        (broken) => this.drop(broken),
        (sent) => {
          this.sentAt = sent ? Date.now() : undefined;
        },
        { engine: this.options.engine, lane: this.index },
      );
      try {
        return await job(session);
      } finally {
        session.close();
        // The job saw the connection fail (a FATAL, a reset): the next job must not find it
        // healthy before pg's own 'end' event gets here.
        if (session.broken && client === this.current) {
          this.healthy = false;
          void client.end().catch(() => undefined);
        }
        this.jobMs = this.jobMs * 0.8 + (performance.now() - began) * 0.2;
      }
    };
    const queued = abort ? this.queue.add(run, { signal: abort.signal }) : this.queue.add(run);
    if (!waited) return queued.finally(started);
    channels.laneWait.end.publish(waited);
    return queued.finally(started).catch((err: unknown) => {
      // Left the queue without running (its deadline, its caller gone): the wait failed.
      if (!begun) {
        waited.error = err;
        channels.laneWait.error.publish(waited);
        channels.laneWait.asyncStart.publish(waited);
        channels.laneWait.asyncEnd.publish(waited);
      }
      throw err;
    });
  }

  /** How long a job added now would wait: the jobs ahead times the lane's recent job time. */
  expectedWaitMs(): number {
    return (this.queue.size + this.queue.pending) * this.jobMs;
  }

  private late(waitMs: number, bound = 'its deadline'): OverloadedError {
    return new OverloadedError(
      `lane ${this.index} cannot reach this job within ${bound} (${this.queue.size} queued, about ${Math.round(waitMs)} ms of work ahead)`,
      Math.max(100, Math.ceil(waitMs)),
    );
  }

  /** A job saw the fence table missing; the lane puts it back before its next job. */
  markFenceLost(): void {
    this.fenceLost = true;
  }

  /** How long the lane has been waiting for Postgres to answer its current statement (0: not waiting). */
  waitingMs(now: number): number {
    return this.sentAt === undefined ? 0 : now - this.sentAt;
  }

  /**
   * Waiting longer than `afterMs` for an answer, and the backend was not seen running the
   * statement since it was sent: the connection may be dead (see StallWatch).
   */
  stalled(now: number, afterMs: number): boolean {
    if (this.sentAt === undefined || now - this.sentAt < afterMs) return false;
    return this.activeSeenAt === undefined || this.activeSeenAt < this.sentAt;
  }

  /** The server process of the current connection (null before it connected). */
  get backendPid(): number | null {
    const pid = (this.current as unknown as { processID?: number | null }).processID;
    return typeof pid === 'number' ? pid : null;
  }

  /** The backend is running the statement: slow, not dead. */
  confirmActive(at: number): void {
    this.activeSeenAt = at;
  }

  /** Gives up on the current connection: its waiting statement fails, the next job reconnects. */
  dropConnection(): void {
    this.drop(this.current);
  }

  stats(): LaneStats {
    return { index: this.index, queued: this.queue.size, running: this.queue.pending > 0, connected: this.healthy };
  }

  /** Resolves when every queued job has finished. */
  async drain(): Promise<void> {
    await this.queue.onIdle();
  }

  async close(): Promise<void> {
    await this.drain();
    this.healthy = false;
    await this.current.end().catch(() => undefined);
  }

  private newClient(): pg.Client {
    const client = new pg.Client(clientConfig(this.options.postgres, this.options.statementTimeoutMs));
    // A broken socket emits 'error' outside any query; unhandled it would crash the process.
    client.on('error', (err) => {
      if (client === this.current) this.healthy = false;
      this.options.onDbError(err, this.index);
    });
    client.on('end', () => {
      if (client === this.current) this.healthy = false;
    });
    return client;
  }

  /** Gives up on a connection whose statement never answered: destroys its socket. */
  private drop(client: pg.ClientBase): void {
    if (client === this.current) this.healthy = false;
    // `connection` is pg's internal protocol object; end() would wait for a peer that is gone.
    const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
    if (stream) stream.destroy();
    else void (client as pg.Client).end().catch(() => undefined);
  }

  private async ensureConnected(): Promise<void> {
    if (this.healthy && !this.fenceLost) return;
    this.connecting ??= (this.healthy ? this.reinstallFence() : this.reconnect()).finally(() => {
      this.connecting = undefined;
    });
    await this.connecting;
  }

  private async reinstallFence(): Promise<void> {
    try {
      await this.current.query(FENCE_SETUP);
      this.fenceLost = false;
    } catch (err) {
      this.options.onDbError(err, this.index);
      throw new UnavailableError(`lane ${this.index} could not reinstall its commit fence (nothing was sent)`, { cause: err });
    }
  }

  private async reconnect(): Promise<void> {
    if (!this.fresh) {
      // A pg.Client connects once; after a break (or a failed attempt) the lane needs a new one.
      const old = this.current;
      this.current = this.newClient();
      void old.end().catch(() => undefined);
    }
    this.fresh = false;
    try {
      await this.current.connect();
      // Temp objects live as long as the session: each new connection gets its own fence.
      await this.current.query(FENCE_SETUP);
      this.fenceLost = false;
      this.healthy = true;
      this.options.onConnected(this.index);
    } catch (err) {
      this.options.onDbError(err, this.index);
      // A connection that came up without its fence must not be used: the next job retries.
      void this.current.end().catch(() => undefined);
      throw new UnavailableError(`lane ${this.index} could not connect to Postgres (nothing was sent)`, {
        cause: err,
      });
    }
  }
}
