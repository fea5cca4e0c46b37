import { ERROR_CODES, type ErrorCode, type ErrorEffect } from './error-codes.js';
import { LOCAL_ERROR_CODES, type LocalErrorCode } from './local-error-codes.js';

/** Every code a `KeylaneError` can carry: the wire codes and the local ones. */
export type KeylaneErrorCode = ErrorCode | LocalErrorCode;

/** What the registry knows of one code; `status` only for the codes that cross the wire. */
export interface ErrorCodeInfo {
  readonly status?: number;
  readonly retryable: boolean;
  readonly effect: ErrorEffect;
  readonly description: string;
}

/**
 * Both registries as one lookup. Retry rules and outcome mappings read this rather than
 * listing codes, so a new code is decided once, where it is registered.
 */
export const KEYLANE_ERROR_CODES: Readonly<Record<KeylaneErrorCode, ErrorCodeInfo>> = Object.freeze({
  ...ERROR_CODES,
  ...LOCAL_ERROR_CODES,
});

export function isKeylaneErrorCode(value: unknown): value is KeylaneErrorCode {
  return typeof value === 'string' && Object.hasOwn(KEYLANE_ERROR_CODES, value);
}

export function isRetryable(code: KeylaneErrorCode): boolean {
  return KEYLANE_ERROR_CODES[code].retryable;
}

export function effectOf(code: KeylaneErrorCode): ErrorEffect {
  return KEYLANE_ERROR_CODES[code].effect;
}
