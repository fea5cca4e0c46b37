/** What one recorded operation did to one key's register. */
export type OperationKind = 'read' | 'write';

/**
 * How the caller saw the operation end.
 * - `ok`: it took effect (a write committed; a read returned `value`).
 * - `fail`: it definitely did not take effect (the service said so before doing anything).
 * - `unknown`: it may or may not have taken effect (timeout, connection reset mid-request).
 */
export type OperationOutcome = 'ok' | 'fail' | 'unknown';

/**
 * One operation on one key, with its real-time interval. All timestamps of a history come
 * from one clock (`process.hrtime.bigint()`) in one recording process, so intervals from
 * different callers are comparable.
 *
 * Reads: `value` is what was returned (`null`: nothing there). Writes: `value` is what was
 * written; it must be unique per key, and never `null`, which stands for the initial
 * absent state only.
 */
export interface Operation {
  process: string;
  key: string;
  kind: OperationKind;
  value: string | null;
  invokeNs: bigint;
  completeNs: bigint;
  outcome: OperationOutcome;
}

export const OPERATION_KINDS: readonly OperationKind[] = ['read', 'write'];
export const OPERATION_OUTCOMES: readonly OperationOutcome[] = ['ok', 'fail', 'unknown'];

/**
 * Returns why `op` is not a well-formed operation, or `null` when it is. Shared by the
 * checker (input from code) and the JSONL reader (input from files) so both reject the same
 * things with the same words.
 */
export function operationProblem(op: Operation): string | null {
  if (typeof op.process !== 'string' || op.process === '')
    return 'process must be a non-empty string';
  if (typeof op.key !== 'string' || op.key === '') return 'key must be a non-empty string';
  if (op.kind !== 'read' && op.kind !== 'write')
    return `kind must be "read" or "write", got ${JSON.stringify(op.kind)}`;
  if (!OPERATION_OUTCOMES.includes(op.outcome)) {
    return `outcome must be "ok", "fail" or "unknown", got ${JSON.stringify(op.outcome)}`;
  }
  if (op.value !== null && typeof op.value !== 'string') return 'value must be a string or null';
  if (op.kind === 'write' && op.value === null) {
    return 'a write must carry a string value: null stands for the initial absent state only (see "Deletes" in the README)';
  }
  if (typeof op.invokeNs !== 'bigint' || typeof op.completeNs !== 'bigint') {
    return 'invokeNs and completeNs must be bigints';
  }
  if (op.completeNs < op.invokeNs) {
    return `completeNs (${op.completeNs}) is before invokeNs (${op.invokeNs})`;
  }
  return null;
}
