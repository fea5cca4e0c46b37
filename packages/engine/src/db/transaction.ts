import { UnavailableError } from '@keylane/protocol';
import pg from 'pg';
import { CallerDeadlineError, TransactionAbortedError, WriteExpiredError, WriteOutcomeUnknownError } from '../errors.js';
import type { Queryable } from '../types.js';
import { beginWithin, FENCE_SQLSTATE, fencedCommit, UNDEFINED_TABLE } from './fence.js';
import { CURRENT_LSN_SQL } from './lsn.js';
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
  /**
   * Read the commit's LSN in COMMIT's own message (`pg_current_wal_insert_lsn()` right after
   * it: at or past the end of its commit record), for the key's watermark. No extra round trip.
   */
  recordLsn?: boolean;
  /**
   * The write marker on its way (sent with BEGIN, not before it, to save a round trip): COMMIT
   * waits for it, and nothing runs once it is known to have failed. A failure rolls back every
   * plan with the marker's error (nothing committed). Absent: the marker is already up.
   */
  marker?: MarkerGate;
}

/** A write marker that may still be on its way to Redis. */
export interface MarkerGate {
  /** The marker's failure once known (undefined: up, or not answered yet). */
  failure(): unknown;
  /** Resolves once the marker is up; rejects with its failure. */
  ready(): Promise<void>;
}

/**
 * How a mutation ended. `committed: 'no'` means Postgres committed nothing (the error may be
 * the callback's own); `'unknown'` means COMMIT was sent and no answer came back.
 */
export type TransactionOutcome<R> =
  | { ok: true; result: R; fill: string | undefined; lsn: string | undefined }
  | { ok: false; error: unknown; committed: 'no' | 'unknown' };

/** A plan of a group that did not run to an outcome of its own: nothing of it committed, run it again. */
export const RERUN = Symbol('rerun');
export type GroupOutcome<R> = TransactionOutcome<R> | typeof RERUN;

// One name for every member: a new SAVEPOINT of the same name hides the older one, and
// ROLLBACK TO goes to the newest (the one before the current member).
const SAVEPOINT = 'SAVEPOINT keylane_member';
const ROLLBACK_MEMBER = 'ROLLBACK TO SAVEPOINT keylane_member';

/**
 * Several mutations of one key in ONE transaction (group commit): one BEGIN, each callback in
 * turn behind a savepoint (its failure rolls back only its own statements), one fenced COMMIT.
 * A plan's outcome is its own failure, or the transaction's; every plan that succeeded shares
 * the COMMIT's. The fence's deadline is the marker's or the first plan's caller's (the others'
 * are no earlier): when the first plan's deadline ends the transaction, the others did nothing
 * wrong and come back as RERUN (nothing of theirs committed). A group of one is exactly a
 * single transaction: no savepoint. Every failure before COMMIT was sent commits nothing
 * (Postgres never commits a transaction it was not told to commit); only a broken connection
 * while COMMIT is in flight leaves the outcome unknown.
 */
export async function runTransactionGroup<R>(
  session: Session,
  plans: readonly MutationPlan<R>[],
  options: TransactionOptions,
): Promise<GroupOutcome<R>[]> {
  const { fence } = options;
  const grouped = plans.length > 1;
  const what = `${options.entity} ${options.id}`;
  const out: (GroupOutcome<R> | undefined)[] = plans.map(() => undefined);
  /** Plans that ran and wait for the COMMIT: index, result, fill. */
  const succeeded: { index: number; result: R; fill: string | undefined }[] = [];
  const unset = (): number[] => out.flatMap((o, i) => (o === undefined ? [i] : []));
  const finish = (): GroupOutcome<R>[] => out.map((o) => o ?? RERUN);

  const expiredOutcome = (how: string, cause?: unknown): TransactionOutcome<R> => {
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
  /** The deadline ended the transaction: the marker's binds every plan, the first caller's only the first. */
  const expireAll = (how: string, cause?: unknown): GroupOutcome<R>[] => {
    for (const i of unset()) out[i] = fence?.binding === 'caller' && i > 0 ? RERUN : expiredOutcome(how, cause);
    return finish();
  };
  const failAll = (outcome: TransactionOutcome<R>): GroupOutcome<R>[] => {
    for (const i of unset()) out[i] = outcome;
    return finish();
  };
  const aborted = (): TransactionOutcome<R> => ({
    ok: false,
    committed: 'no',
    error: new TransactionAbortedError(
      `the callback of ${what} returned while its transaction was aborted (a statement failed and the error was caught); rolled back, nothing was committed`,
    ),
  });
  const brokenBeforeCommit = (err: unknown): GroupOutcome<R>[] =>
    failAll({
      ok: false,
      committed: 'no',
      error: new UnavailableError(`postgres connection failed during the transaction of ${what}, before COMMIT; nothing was committed`, {
        cause: err,
      }),
    });
  /** Undoes the current plan alone (grouped); false when that failed too and the group has its outcomes. */
  const rollbackMember = async (): Promise<boolean> => {
    try {
      await session.query(ROLLBACK_MEMBER);
      return true;
    } catch (err) {
      session.observe(err);
      await rollback(session);
      if (session.broken) brokenBeforeCommit(err);
      else failAll({ ok: false, committed: 'no', error: new UnavailableError(`postgres could not roll back a member of ${what}'s group; nothing was committed`, { cause: err }) });
      return false;
    }
  };

  /**
   * One plan failed on its own (its error, an aborted transaction, a value its codec refused):
   * alone, that ends the transaction; in a group, only its statements are undone. True when
   * the group goes on with the next plan.
   */
  const failMember = async (index: number, outcome: TransactionOutcome<R>): Promise<boolean> => {
    if (!grouped) {
      await rollback(session);
      out[index] = outcome;
      return false;
    }
    if (!(await rollbackMember())) return false;
    out[index] = outcome;
    return true;
  };

  // A job the lane reached after its deadline never starts: it could only be refused later.
  let boundMs: number | null = null;
  if (fence) {
    const left = fence.remainingMs();
    if (left <= 0) return expireAll('before its transaction began');
    // A lock wait or a long statement past the deadline is cancelled rather than waited out.
    if (options.statementTimeoutMs === 0 || left < options.statementTimeoutMs) boundMs = left;
  }
  try {
    await session.query(grouped ? `${beginWithin(boundMs)}; ${SAVEPOINT}` : beginWithin(boundMs));
  } catch (err) {
    await rollback(session);
    return failAll({
      ok: false,
      committed: 'no',
      error: new UnavailableError(`postgres could not begin the transaction of ${what}; nothing was committed`, { cause: err }),
    });
  }
  const markerFailed = async (error: unknown): Promise<GroupOutcome<R>[]> => {
    await rollback(session);
    return failAll({ ok: false, committed: 'no', error });
  };
  // No callback runs once the marker is known to have failed (Redis down fails at once).
  if (options.marker?.failure() !== undefined) return markerFailed(options.marker.failure());

  for (const [index, plan] of plans.entries()) {
    if (index > 0 && succeeded.at(-1)?.index === index - 1) {
      // The previous plan's statements stay; this one gets a savepoint of its own.
      try {
        await session.query(SAVEPOINT);
      } catch (err) {
        session.observe(err);
        if (session.broken) {
          await rollback(session);
          return brokenBeforeCommit(err);
        }
        // The previous callback returned with its transaction aborted (its error status
        // arrived after it returned): undo it alone and go on.
        if (err instanceof pg.DatabaseError && err.code === IN_FAILED_TRANSACTION) {
          if (!(await rollbackMember())) return finish();
          const previous = succeeded.pop()!;
          out[previous.index] = aborted();
        } else {
          await rollback(session);
          return failAll({ ok: false, committed: 'no', error: err });
        }
      }
    }
    const tx = session.userHandle();
    let result: R;
    try {
      result = await withinDeadline(plan.run(tx), fence);
    } catch (err) {
      tx.revoke();
      session.observe(err);
      if (err instanceof Abandoned) {
        await rollback(session);
        return expireAll("its callback had not returned by the deadline, so it was rolled back");
      }
      if (session.broken) {
        await rollback(session);
        return brokenBeforeCommit(err);
      }
      if (boundMs !== null && err instanceof pg.DatabaseError && err.code === QUERY_CANCELED) {
        await rollback(session);
        return expireAll('a statement was still running at the deadline and was cancelled', err);
      }
      // The callback's own error (a refusal, a constraint violation it let through): as it is.
      if (await failMember(index, { ok: false, committed: 'no', error: err })) continue;
      return finish();
    }
    tx.revoke();

    // pg reports a statement's error before the ReadyForQuery that carries the new status, so
    // 'E' may not show yet here; the next SAVEPOINT or the fenced COMMIT then fails with
    // IN_FAILED_TRANSACTION instead.
    const status = session.transactionStatus();
    if (status === 'E') {
      if (await failMember(index, aborted())) continue;
      return finish();
    }
    if (status === 'I') {
      // Committed or rolled back outside the fence, with every plan before it: unknown to the
      // engine. The plans after it never ran.
      const unknown: TransactionOutcome<R> = {
        ok: false,
        committed: 'unknown',
        error: new WriteOutcomeUnknownError(
          `the callback of ${what} ended the transaction itself (COMMIT or ROLLBACK inside mutate), outside the commit fence; ` +
            'its outcome is unknown to the engine. Use savepoints inside mutate, never COMMIT/ROLLBACK',
        ),
      };
      for (const s of succeeded) out[s.index] = unknown;
      out[index] = unknown;
      return finish();
    }

    let fill: string | undefined;
    try {
      fill = plan.fillText(result);
    } catch (err) {
      if (await failMember(index, { ok: false, committed: 'no', error: err })) continue;
      return finish();
    }
    succeeded.push({ index, result, fill });
  }
  if (succeeded.length === 0) {
    await rollback(session);
    return finish();
  }

  if (options.marker) {
    try {
      await options.marker.ready();
    } catch (err) {
      return markerFailed(err);
    }
  }
  let commit = 'COMMIT';
  if (fence) {
    if (options.chaos.clientSideFence) {
      // The unsafe twin: a check in this process, then COMMIT with nothing on the server side.
      if (fence.remainingMs() <= 0) {
        await rollback(session);
        return expireAll('the client-side check before COMMIT found the deadline passed');
      }
    } else {
      commit = fencedCommit(fence.deadlineMs);
    }
  }
  if (options.recordLsn) commit += `; ${CURRENT_LSN_SQL}`;
  if (options.chaos.commitDelayMs > 0) await sleep(options.chaos.commitDelayMs);
  let lsn: string | undefined;
  for (;;) {
    try {
      const answer: unknown = await session.query(commit);
      if (options.recordLsn) lsn = lsnOf(answer);
      break;
    } catch (err) {
      // An ERROR during COMMIT rolled the transaction back. A FATAL ends the session at a
      // moment the client cannot know: before the commit record, or after it (a backend
      // terminated while it waits for a synchronous standby has already committed locally).
      if (err instanceof pg.DatabaseError && !isConnectionError(err)) {
        if (err.code === FENCE_SQLSTATE) return expireAll('Postgres refused the COMMIT at the commit fence', err);
        if (err.code === IN_FAILED_TRANSACTION) {
          // The last callback returned with its transaction aborted: in a group, undo it alone
          // and commit the others.
          const last = succeeded.pop()!;
          if (grouped && succeeded.length > 0) {
            if (!(await rollbackMember())) return finish();
            out[last.index] = aborted();
            continue;
          }
          await rollback(session);
          out[last.index] = aborted();
          return finish();
        }
        // The fence INSERT failed: COMMIT never ran and the transaction is aborted.
        if (session.transactionStatus() === 'E') {
          await rollback(session);
          if (err.code === UNDEFINED_TABLE) options.onFenceLost();
          return failAll({
            ok: false,
            committed: 'no',
            error: new UnavailableError(`the commit fence of ${what} failed; nothing was committed: ${err.message}`, { cause: err }),
          });
        }
        if (boundMs !== null && err.code === QUERY_CANCELED) {
          return expireAll('its COMMIT was still running at the deadline and was cancelled', err);
        }
        // COMMIT itself refused (a deferred constraint, a serialization failure): rolled back.
        return failAll({ ok: false, committed: 'no', error: err });
      }
      return failAll({
        ok: false,
        committed: 'unknown',
        error: new WriteOutcomeUnknownError(
          `postgres connection failed while COMMIT of ${what} was in flight; it may or may not have committed: ${
            err instanceof Error ? err.message : String(err)
          }`,
          { cause: err },
        ),
      });
    }
  }
  for (const s of succeeded) out[s.index] = { ok: true, result: s.result, fill: s.fill, lsn };
  return finish();
}

/** The LSN row of a multi-statement COMMIT message's last result. */
function lsnOf(answer: unknown): string | undefined {
  const results = Array.isArray(answer) ? (answer as pg.QueryResult[]) : [answer as pg.QueryResult];
  const row = results.at(-1)?.rows[0] as { lsn?: unknown } | undefined;
  const lsn = row?.lsn;
  return typeof lsn === 'string' ? lsn : undefined;
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
