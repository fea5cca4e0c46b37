import { KeylaneError } from '@keylane/protocol';

/**
 * What a thrown error says about whether the operation took effect. `fail` only when the
 * request surely had no effect; anything else is `unknown`, which the checker treats as
 * "may have happened at any time after it began". Guessing `fail` wrongly would make the
 * checker report violations that are not there, so doubt always goes to `unknown`.
 *
 * The error's `effect` is the protocol registry's word on its code, refined by what the error
 * knows (a connection failure that never sent, the code a service answered), so a new code is
 * decided where it is registered, not here.
 */
export function outcomeOfError(err: unknown): 'fail' | 'unknown' {
  if (!(err instanceof KeylaneError)) return 'unknown';
  return err.effect === 'unknown' ? 'unknown' : 'fail';
}
