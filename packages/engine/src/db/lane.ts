import { OverloadedError, UnavailableError } from '@keylane/protocol';
import PQueue from 'p-queue';
import pg from 'pg';
import type { Queryable } from '../store/item-store.js';
import type { LaneStats } from '../types.js';

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

// pg's query_timeout rejects the query but leaves it running on the socket, so the connection
// is unusable afterwards; pg gives the error no code, only this message.
const PG_QUERY_TIMEOUT = 'Query read timeout';

export interface LaneOptions {
  index: number;
  connectionString: string;
  /** Postgres' statement_timeout for the lane's connection; 0 for none. */
  statementTimeoutMs: number;
  maxQueue: number;
  /** Called when the lane's connection reports an error (for the stats). */
  onDbError: (err: unknown) => void;
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
  /**
   * What jobs query through: the current connection, except that a statement that never
   * answers (pg's query_timeout) drops that connection so the next job gets a new one. The
   * job still sees the error (a write's outcome is then unknown).
   */
  private readonly db: Queryable = {
    query: async (text, values) => {
      const client = this.current;
      try {
        return await client.query(text, values);
      } catch (err) {
        // Straight from pg: nothing has wrapped it yet.
        if (err instanceof Error && err.message === PG_QUERY_TIMEOUT) this.drop(client);
        throw err;
      }
    },
  };
  /** True until `connect()` was called on `current`. */
  private fresh = true;

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
   * `maxQueue` jobs already wait, so a stuck lane cannot grow memory without bound.
   */
  run<T>(job: (db: Queryable) => Promise<T>): Promise<T> {
    if (this.queue.size >= this.options.maxQueue) {
      return Promise.reject(
        new OverloadedError(`lane ${this.index} has ${this.queue.size} queued jobs (maxQueuePerLane)`),
      );
    }
    return this.queue.add(async () => {
      await this.ensureConnected();
      return job(this.db);
    });
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
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: this.options.statementTimeoutMs,
      query_timeout: queryTimeoutMs(this.options.statementTimeoutMs),
      // A peer that vanished without a FIN must eventually break the lane's socket.
      keepAlive: true,
    });
    // A broken socket emits 'error' outside any query; unhandled it would crash the process.
    client.on('error', (err) => {
      if (client === this.current) this.healthy = false;
      this.options.onDbError(err);
    });
    client.on('end', () => {
      if (client === this.current) this.healthy = false;
    });
    return client;
  }

  /** Gives up on a connection whose statement never answered: destroys its socket. */
  private drop(client: pg.Client): void {
    if (client === this.current) this.healthy = false;
    // `connection` is pg's internal protocol object; end() would wait for a peer that is gone.
    const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
    if (stream) stream.destroy();
    else void client.end().catch(() => undefined);
  }

  private async ensureConnected(): Promise<void> {
    if (this.healthy) return;
    this.connecting ??= this.reconnect().finally(() => {
      this.connecting = undefined;
    });
    await this.connecting;
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
      this.healthy = true;
    } catch (err) {
      this.options.onDbError(err);
      throw new UnavailableError(`lane ${this.index} could not connect to Postgres (nothing was sent)`, {
        cause: err,
      });
    }
  }
}
