import { KeylaneError } from '@keylane/protocol';

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
    // Refused before any effect: a conditional write at the wrong version, a full lane.
    case 'version_conflict':
    case 'overloaded':
      return 'fail';
    // Not `fail`: the engine also answers `unavailable` when a write's connection broke with
    // the statement in flight (WriteOutcomeUnknownError), and the wire does not tell the two
    // apart. Recording such a write as failed would make the checker cry wolf if it landed.
    case 'unavailable':
      return 'unknown';
    case 'service_error': {
      const { status, serviceCode } = err as KeylaneError & {
        status?: unknown;
        serviceCode?: unknown;
      };
      if (serviceCode === 'overloaded') return 'fail';
      if (serviceCode === 'unavailable') return 'unknown';
      if (typeof status === 'number' && status >= 400 && status < 500) return 'fail';
      return 'unknown';
    }
    default:
      return 'unknown';
  }
}
