import { UnavailableError } from '@keylane/protocol';
import pg from 'pg';
import { CallerDeadlineError, TransactionAbortedError, WriteExpiredError, WriteOutcomeUnknownError } from '../errors.js';
import type { Queryable } from '../types.js';
import { beginWithin, FENCE_SQLSTATE, fencedCommit, UNDEFINED_TABLE } from './fence.js';
import { isConnectionError, type Session } from './session.js';

/** What the engine runs for one mutation: the user's callback and how to cache its result. */
export interface MutationPlan<R> {
  run(tx: Queryable): Promise<R>;
  /**
   * The cache text for the callback's result (`undefined`: fill nothing). Called before
   * COMMIT, so a value the codec refuses commits nothing.
   */
  fillText(result: R): string | undefined;
}

/** The commit deadline of a guarded mutation. */
export interface Fence {
  /** Epoch ms on Redis' clock (which the guard assumes agrees with Postgres'): COMMIT must land before it. */
  readonly deadlineMs: number;
  /** Milliseconds left, measured on this process's monotonic clock. */
  remainingMs(): number;
  /** Whose deadline it is: the write marker's, or the caller's (when that one is earlier). */
  readonly binding: 'marker' | 'caller';
}

export interface TransactionOptions {
  /** `null`: no deadline (the baselines). */
  fence: Fence | null;
  /** The lane connection's own statement_timeout (0: none): the deadline only ever shortens it. */
  statementTimeoutMs: number;
  /** For messages: "users 42". */
  entity: string;
  id: string;
  /** The fence table was gone (DISCARD TEMP, a DROP): the lane must reinstall it. */
  onFenceLost: () => void;
  chaos: { commitDelayMs: number; clientSideFence: boolean };
}

/**
 * How a mutation ended. `committed: 'no'` means Postgres committed nothing (the error may be
 * the callback's own); `'unknown'` means COMMIT was sent and no answer came back.
 */
export type TransactionOutcome<R> =
  | { ok: true; result: R; fill: string | undefined }
  | { ok: false; error: unknown; committed: 'no' | 'unknown' };

/**
 * BEGIN, the user's callback, the fence and COMMIT on one session. Every failure before COMMIT
 * was sent commits nothing (Postgres never commits a transaction it was not told to commit);
 * only a broken connection while COMMIT is in flight leaves the outcome unknown.
 */
export async function runTransaction<R>(
  session: Session,
  plan: MutationPlan<R>,
  options: TransactionOptions,
): Promise<TransactionOutcome<R>> {
  const { fence } = options;
  const what = `${options.entity} ${options.id}`;
  const expired = (how: string, cause?: unknown): TransactionOutcome<R> => {
    const causeOption = cause === undefined ? undefined : { cause };
    return {
      ok: false,
      committed: 'no',
      error:
        fence?.binding === 'caller'
          ? new CallerDeadlineError(options.id, options.entity, how, causeOption)
          : new WriteExpiredError(options.id, options.entity, how, causeOption),
    };
  };

  // A job the lane reached after its deadline never starts: it could only be refused later.
  let boundMs: number | null = null;
  if (fence) {
    const left = fence.remainingMs();
    if (left <= 0) return expired('before its transaction began');
    // A lock wait or a long statement past the deadline is cancelled rather than waited out.
    if (options.statementTimeoutMs === 0 || left < options.statementTimeoutMs) boundMs = left;
  }
  try {
    await session.query(beginWithin(boundMs));
  } catch (err) {
    await rollback(session);
    return {
      ok: false,
      committed: 'no',
      error: new UnavailableError(`postgres could not begin the transaction of ${what}; nothing was committed`, { cause: err }),
    };
  }

  const tx = session.userHandle();
  let result: R;
  try {
    result = await withinDeadline(plan.run(tx), fence);
  } catch (err) {
    tx.revoke();
    session.observe(err);
    await rollback(session);
    if (err instanceof Abandoned) return expired("its callback had not returned by the deadline, so it was rolled back");
    if (session.broken) {
      return {
        ok: false,
        committed: 'no',
        error: new UnavailableError(`postgres connection failed during the transaction of ${what}, before COMMIT; nothing was committed`, {
          cause: err,
        }),
      };
    }
    if (boundMs !== null && err instanceof pg.DatabaseError && err.code === QUERY_CANCELED) {
      return expired('a statement was still running at the deadline and was cancelled', err);
    }
    // The callback's own error (a refusal, a constraint violation it let through): as it is.
    return { ok: false, committed: 'no', error: err };
  }
  tx.revoke();

  const aborted = (): TransactionOutcome<R> => ({
    ok: false,
    committed: 'no',
    error: new TransactionAbortedError(
      `the callback of ${what} returned while its transaction was aborted (a statement failed and the error was caught); rolled back, nothing was committed`,
    ),
  });
  // pg reports a statement's error before the ReadyForQuery that carries the new status, so
  // 'E' may not show yet here; the fenced COMMIT then fails with IN_FAILED_TRANSACTION instead.
  const status = session.transactionStatus();
  if (status === 'E') {
    await rollback(session);
    return aborted();
  }
  if (status === 'I') {
    return {
      ok: false,
      committed: 'unknown',
      error: new WriteOutcomeUnknownError(
        `the callback of ${what} ended the transaction itself (COMMIT or ROLLBACK inside mutate), outside the commit fence; ` +
          'its outcome is unknown to the engine. Use savepoints inside mutate, never COMMIT/ROLLBACK',
      ),
    };
  }

  let fill: string | undefined;
  try {
    fill = plan.fillText(result);
  } catch (err) {
    await rollback(session);
    return { ok: false, committed: 'no', error: err };
  }

  let commit = 'COMMIT';
  if (fence) {
    if (options.chaos.clientSideFence) {
      // The unsafe twin: a check in this process, then COMMIT with nothing on the server side.
      if (fence.remainingMs() <= 0) {
        await rollback(session);
        return expired('the client-side check before COMMIT found the deadline passed');
      }
    } else {
      commit = fencedCommit(fence.deadlineMs);
    }
  }
  if (options.chaos.commitDelayMs > 0) await sleep(options.chaos.commitDelayMs);
  try {
    await session.query(commit);
  } catch (err) {
    // An ERROR during COMMIT rolled the transaction back. A FATAL ends the session at a
    // moment the client cannot know: before the commit record, or after it (a backend
    // terminated while it waits for a synchronous standby has already committed locally).
    if (err instanceof pg.DatabaseError && !isConnectionError(err)) {
      if (err.code === FENCE_SQLSTATE) return expired('Postgres refused the COMMIT at the commit fence', err);
      if (err.code === IN_FAILED_TRANSACTION) {
        await rollback(session);
        return aborted();
      }
      // The fence INSERT failed: COMMIT never ran and the transaction is aborted.
      if (session.transactionStatus() === 'E') {
        await rollback(session);
        if (err.code === UNDEFINED_TABLE) options.onFenceLost();
        return {
          ok: false,
          committed: 'no',
          error: new UnavailableError(`the commit fence of ${what} failed; nothing was committed: ${err.message}`, { cause: err }),
        };
      }
      if (boundMs !== null && err.code === QUERY_CANCELED) {
        return expired('its COMMIT was still running at the deadline and was cancelled', err);
      }
      // COMMIT itself refused (a deferred constraint, a serialization failure): rolled back.
      return { ok: false, committed: 'no', error: err };
    }
    return {
      ok: false,
      committed: 'unknown',
      error: new WriteOutcomeUnknownError(
        `postgres connection failed while COMMIT of ${what} was in flight; it may or may not have committed: ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      ),
    };
  }
  return { ok: true, result, fill };
}

const QUERY_CANCELED = '57014';
const IN_FAILED_TRANSACTION = '25P02';
/** The callback was still running at the deadline: the transaction is rolled back without it. */
class Abandoned extends Error {}

/** The callback's promise, or an Abandoned rejection once the fence's deadline has passed (no bound without a fence). */
function withinDeadline<R>(work: Promise<R>, fence: Fence | null): Promise<R> {
  if (!fence) return work;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Abandoned('abandoned at the deadline')), Math.max(0, fence.remainingMs()));
  });
  // A callback abandoned at the deadline may still reject later: nobody waits for it.
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

async function rollback(session: Session): Promise<void> {
  if (session.transactionStatus() === 'I') return;
  await session.query('ROLLBACK').catch((err: unknown) => session.observe(err));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
