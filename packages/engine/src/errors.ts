import { DeadlineExceededError, KeylaneError, OutcomeUnknownError, UnavailableError } from '@keylane/protocol';

// One options error for every package: `createEngine` throws it naming the option.
export { InvalidOptionsError } from '@keylane/protocol';

/**
 * A value that cannot be stored or cached faithfully: a write's value that is not JSON, or a
 * loader's/mutation's value the entity's codec refuses (a Map, a function, a cycle). Nothing
 * was committed: a mutation's value is encoded before its COMMIT. Code `invalid_value`, the
 * SDK's for the same refusal; a service built on the engine answers it as its own wire code
 * (the item service: 400 `invalid_body`), since only the service knows the value came in a body.
 */
export class InvalidValueError extends KeylaneError {
  declare readonly code: 'invalid_value';

  constructor(message: string, options?: ErrorOptions) {
    super('invalid_value', message, options);
  }
}

/**
 * A guarded mutation reached its write marker's deadline before it could commit: Postgres
 * refused the COMMIT at the fence, a statement was cancelled at the deadline, or the writer
 * was held (paused) past it before it began. Nothing was committed; retry. Code
 * `unavailable`; `writesExpired` counts them.
 */
export class WriteExpiredError extends UnavailableError {
  readonly id: string;

  constructor(id: string, entity: string, how: string, options?: ErrorOptions) {
    super(`${entity} ${id}: the write expired (${how}), so nothing was committed; retry`, options);
    this.id = id;
  }
}

/**
 * A write marker (or an invalidation) did not reach `redis.markerReplicas` replicas within
 * `redis.markerReplicationTimeoutMs`: a failover could lose it, so the write was refused
 * before its transaction began. Nothing was committed; retry once the replicas are back.
 * Code `unavailable`.
 */
export class MarkerNotReplicatedError extends UnavailableError {
  readonly acknowledged: number;
  readonly required: number;

  constructor(message: string, acknowledged: number, required: number, options?: ErrorOptions) {
    super(message, options);
    this.acknowledged = acknowledged;
    this.required = required;
  }
}

/**
 * The caller's own deadline (`deadline` of get/mutate) passed before the work could be done:
 * the lane reached the job too late, or a mutation could not commit in time (the fence holds
 * it to the earlier of the caller's and the marker's deadline). Nothing was committed. Code
 * `deadline_exceeded`; `deadlinesExceeded` counts them.
 */
export class CallerDeadlineError extends DeadlineExceededError {
  readonly id: string;

  constructor(id: string, entity: string, how: string, options?: ErrorOptions) {
    super(`${entity} ${id}: the caller's deadline passed (${how}), so nothing was committed`, options);
    this.id = id;
  }
}

/**
 * The write may or may not have committed: the connection broke while COMMIT was in flight
 * (or the callback ended the transaction itself). It cannot commit after its deadline.
 * Code `outcome_unknown`; checkers record such operations as indeterminate. The write marker
 * is left to expire rather than removed.
 */
export class WriteOutcomeUnknownError extends OutcomeUnknownError {
  readonly outcomeUnknown = true;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * A mutation's callback returned while its transaction was aborted: a statement failed and
 * the callback caught the error and went on. Postgres would turn the COMMIT into a ROLLBACK;
 * the engine rolls back and says so. Nothing was committed.
 */
export class TransactionAbortedError extends KeylaneError {
  declare readonly code: 'transaction_aborted';

  constructor(message: string, options?: ErrorOptions) {
    super('transaction_aborted', message, options);
  }
}
