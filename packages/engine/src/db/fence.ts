/**
 * The commit fence: Postgres itself refuses a COMMIT that arrives after the write's deadline.
 *
 * A check made by the client before COMMIT is not enough: a client can pause (GC, SIGSTOP, a
 * slow network) between that check and COMMIT, and its commit would then land after the
 * marker expired and after a reader filled the old row. So the check runs inside COMMIT: a
 * DEFERRABLE INITIALLY DEFERRED constraint trigger fires during COMMIT's pre-commit phase and
 * compares `clock_timestamp()` with the deadline; past it, it raises and COMMIT rolls back.
 *
 * Why this mechanism: Postgres has no absolute transaction deadline (`transaction_timeout` is
 * 17+ and relative; `idle_in_transaction_session_timeout` measures idleness, not age), 2PC
 * cannot make COMMIT PREPARED conditional, and the single-statement clock check of earlier
 * versions is evaluated before a row-lock wait, not after it. A deferred constraint trigger is
 * the one hook that runs at commit on any table. It is installed per connection on a TEMP
 * table (`ON COMMIT DELETE ROWS`, unlogged, invisible to other sessions), so the engine
 * creates nothing in the user's schemas and needs no migration; every lane connection runs
 * FENCE_SETUP when it connects.
 *
 * The fence row is inserted in the same message as COMMIT, after the user's statements: a
 * `SET CONSTRAINTS ALL IMMEDIATE` inside the callback cannot move the check before COMMIT,
 * and `SET CONSTRAINTS <fence> DEFERRED` in that message undoes one issued earlier.
 */

/** The SQLSTATE the fence raises (class KL: Keylane's own). */
export const FENCE_SQLSTATE = 'KL001';

/** Undefined table: the fence was dropped (DISCARD TEMP, a DROP); the lane reinstalls it. */
export const UNDEFINED_TABLE = '42P01';

export const FENCE_SETUP = `
CREATE TEMP TABLE IF NOT EXISTS keylane_fence (deadline timestamptz NOT NULL) ON COMMIT DELETE ROWS;
CREATE OR REPLACE FUNCTION pg_temp.keylane_fence_check() RETURNS trigger LANGUAGE plpgsql AS $fence$
BEGIN
  IF clock_timestamp() >= NEW.deadline THEN
    RAISE EXCEPTION 'keylane commit fence: the write''s deadline % passed % ago; nothing was committed',
      NEW.deadline, clock_timestamp() - NEW.deadline USING ERRCODE = '${FENCE_SQLSTATE}';
  END IF;
  RETURN NULL;
END
$fence$;
DROP TRIGGER IF EXISTS keylane_fence_check ON pg_temp.keylane_fence;
CREATE CONSTRAINT TRIGGER keylane_fence_check AFTER INSERT ON pg_temp.keylane_fence
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.keylane_fence_check();
`;

/**
 * The fenced COMMIT for a deadline in epoch ms (Postgres' clock), as one simple-protocol
 * message. The deadline is an integer the engine computed, never user input.
 */
export function fencedCommit(deadlineMs: number): string {
  if (!Number.isSafeInteger(deadlineMs)) throw new RangeError(`deadline must be an integer epoch ms, got ${deadlineMs}`);
  return (
    'SET CONSTRAINTS pg_temp.keylane_fence_check DEFERRED; ' +
    `INSERT INTO pg_temp.keylane_fence VALUES (to_timestamp(${deadlineMs}::float8 / 1000.0)); ` +
    'COMMIT'
  );
}

/** BEGIN, bounding every statement of the transaction by the time left before its deadline. */
export function beginWithin(statementTimeoutMs: number | null): string {
  return statementTimeoutMs === null ? 'BEGIN' : `BEGIN; SET LOCAL statement_timeout = ${Math.max(1, Math.ceil(statementTimeoutMs))}`;
}
