import pg from 'pg';
import { channels, traceCall } from '../diagnostics.js';
import type { Queryable } from '../types.js';

// pg's query_timeout rejects the query but leaves it running on the socket, so the connection
// is unusable afterwards; pg gives the error no code, only this message.
const PG_QUERY_TIMEOUT = 'Query read timeout';

/** Postgres' transaction status from the last ReadyForQuery: idle, in a transaction, in a failed one. */
export type TransactionStatus = 'I' | 'T' | 'E';

/**
 * One job's use of a pg connection (a lane's, or one checked out of the pool). User code gets
 * its `query`; the engine also learns from it whether the connection itself failed (as
 * opposed to Postgres refusing a statement) and where the transaction stands. After `close()`
 * the handle refuses queries: a callback that kept it cannot reach the connection once its
 * job has ended and the lane has moved on.
 */
export class Session implements Queryable {
  /** A query failed without an answer from Postgres (a broken socket, a read timeout). */
  broken = false;
  #closed = false;

  constructor(
    private readonly client: pg.ClientBase,
    /** Called when a statement never answered: the connection must be dropped. */
    private readonly onReadTimeout: (client: pg.ClientBase) => void,
    /** Told when a statement is sent and when its answer (or failure) came: the stall watch's input. */
    private readonly waiting?: (sent: boolean) => void,
    /** Who runs it, for the query channel's events; lane null: a pool connection. */
    private readonly origin: { engine: number; lane: number | null } = { engine: 0, lane: null },
  ) {}

  // Every overload of pg's query goes straight through (text and values, a config object, a
  // Submittable, a callback); only promise results are watched for connection failures.
  readonly query: Queryable['query'] = ((...args: unknown[]): unknown => {
    if (this.#closed) {
      return refuse(args, 'this query handle belongs to a Keylane job that has ended; use it only inside its callback');
    }
    const result = channels.query.hasSubscribers
      ? traceCall(channels.query, { engine: this.origin.engine, lane: this.origin.lane, text: statementText(args[0]) }, () =>
          (this.client.query as (...a: unknown[]) => unknown).apply(this.client, args),
        )
      : (this.client.query as (...a: unknown[]) => unknown).apply(this.client, args);
    if (result instanceof Promise) {
      this.waiting?.(true);
      return result
        .catch((err: unknown) => {
          this.observe(err);
          throw err;
        })
        .finally(() => this.waiting?.(false));
    }
    return result;
  }) as Queryable['query'];

  /**
   * A handle for user code that can be revoked on its own (a mutation abandoned at its
   * deadline) while the engine keeps the session to roll back.
   */
  userHandle(): Queryable & { revoke(): void } {
    let revoked = false;
    const query = ((...args: unknown[]): unknown => {
      if (revoked) return refuse(args, 'this transaction was abandoned at its deadline and rolled back');
      return (this.query as (...a: unknown[]) => unknown)(...args);
    }) as Queryable['query'];
    return {
      query,
      revoke: () => {
        revoked = true;
      },
    };
  }

  transactionStatus(): TransactionStatus | null {
    const status = (this.client as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
    return status === 'I' || status === 'T' || status === 'E' ? status : null;
  }

  close(): void {
    this.#closed = true;
  }

  /** Records what an error says about the connection (also for errors seen outside `query`). */
  observe(err: unknown): void {
    if (!isConnectionError(err)) return;
    this.broken = true;
    if (err instanceof Error && err.message === PG_QUERY_TIMEOUT) this.onReadTimeout(this.client);
  }
}

function statementText(first: unknown): string | undefined {
  if (typeof first === 'string') return first;
  const text = (first as { text?: unknown } | null)?.text;
  return typeof text === 'string' ? text : undefined;
}

/** Fails a query the way pg would: through its callback if it has one, else a rejected promise. */
function refuse(args: unknown[], message: string): unknown {
  const error = new Error(message);
  const callback = args.find((a) => typeof a === 'function') as ((err: Error) => void) | undefined;
  if (callback) {
    queueMicrotask(() => callback(error));
    return undefined;
  }
  return Promise.reject(error);
}

/**
 * True for what pg reports when the connection, not the statement, failed: a FATAL or PANIC
 * from the server, or no SQLSTATE and one of pg's connection messages (or a socket error code).
 */
export function isConnectionError(err: unknown): boolean {
  // FATAL and PANIC end the session (pg_terminate_backend, a shutdown): the server said so
  // with an SQLSTATE, but the connection is gone all the same.
  if (err instanceof pg.DatabaseError) return err.severity === 'FATAL' || err.severity === 'PANIC';
  if (!(err instanceof Error)) return false;
  const { code } = err as { code?: unknown };
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  return /Connection terminated|not queryable|Query read timeout|Client was closed|Connection ended|timeout expired/i.test(
    err.message,
  );
}
