import { effectOf, isErrorCode, KeylaneError } from '@keylane/protocol';

/**
 * What a thrown error says about whether the operation took effect. `fail` only when the
 * request surely had no effect; anything else is `unknown`, which the checker treats as
 * "may have happened at any time after it began". Guessing `fail` wrongly would make the
 * checker report violations that are not there, so doubt always goes to `unknown`.
 */
export function outcomeOfError(err: unknown): 'fail' | 'unknown' {
  if (!(err instanceof KeylaneError)) return 'unknown';
  switch (err.code) {
    // Refused by the SDK before anything was sent.
    case 'no_healthy_instance':
    case 'invalid_options':
    case 'client_closed':
    case 'invalid_id':
      return 'fail';
    case 'connection_failed':
      return (err as KeylaneError & { sent?: unknown }).sent === false ? 'fail' : 'unknown';
    case 'invalid_value':
      return 'fail';
    case 'service_error': {
      const { status, serviceCode } = err as KeylaneError & { status?: unknown; serviceCode?: unknown };
      if (isErrorCode(serviceCode)) return effectOf(serviceCode) === 'unknown' ? 'unknown' : 'fail';
      if (typeof status === 'number' && status >= 400 && status < 500) return 'fail';
      return 'unknown';
    }
    default:
      // A wire code says itself what happened to the data (the protocol's registry): since
      // outcome_unknown has a code of its own, unavailable means nothing was committed.
      if (isErrorCode(err.code)) return effectOf(err.code) === 'unknown' ? 'unknown' : 'fail';
      // request_timeout and the rest: may have taken effect (never after its deadline).
      return 'unknown';
  }
}
