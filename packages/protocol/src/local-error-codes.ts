import type { ErrorEffect } from './error-codes.js';

/**
 * The codes that never cross the wire: raised inside a caller (the SDK), an embedded engine or
 * Keylane's own tools. They sit beside the wire registry, not in it, because the item service
 * answers only with wire codes and its metrics and tests enumerate exactly those. Same meaning
 * of `retryable` and `effect`; `raisedBy` says where a reader meets the code. README.md lists
 * the same table, and a test keeps the two in step.
 */
export const LOCAL_ERROR_CODES = {
  invalid_options: {
    retryable: false,
    effect: 'n/a',
    raisedBy: 'every package',
    description: 'An option of a constructor or factory (`createClient`, `createEngine`, a flag) cannot be used; `option` names it.',
  },
  invalid_config: {
    retryable: false,
    effect: 'n/a',
    raisedBy: 'item-service, example-caller',
    description: 'An environment variable holds a value the program cannot run with; the process exits.',
  },
  no_healthy_instance: {
    retryable: true,
    effect: 'none',
    raisedBy: '@keylane/sdk',
    description: 'No instance is healthy, so the key could not be routed; nothing was sent.',
  },
  request_timeout: {
    retryable: false,
    effect: 'unknown',
    raisedBy: '@keylane/sdk',
    description: '`requestTimeoutMs` passed; a write may have committed before the deadline, never after it: read, or retry with `ifVersion`.',
  },
  connection_failed: {
    retryable: false,
    effect: 'unknown',
    raisedBy: '@keylane/sdk',
    description: 'The connection to an instance failed; with `sent: false` the request surely never left, so the error says `none` and `retryable` itself.',
  },
  service_error: {
    retryable: false,
    effect: 'unknown',
    raisedBy: '@keylane/sdk',
    description: 'An answer the SDK has no more specific error for; `serviceCode` (when the body had one) or a 4xx status says the rest.',
  },
  discovery_failed: {
    retryable: true,
    effect: 'none',
    raisedBy: '@keylane/sdk',
    description: 'A DNS lookup of the instances failed or had no address; the client keeps its last good set.',
  },
  invalid_value: {
    retryable: false,
    effect: 'none',
    raisedBy: '@keylane/sdk, @keylane/engine',
    description: 'A value JSON (or an entity\'s codec) cannot carry as it is; refused before anything was sent or committed. A service answers it as its own code (the item service: `invalid_body`).',
  },
  client_closed: {
    retryable: false,
    effect: 'none',
    raisedBy: '@keylane/sdk',
    description: 'The client was closed; nothing was sent.',
  },
  transaction_aborted: {
    retryable: false,
    effect: 'none',
    raisedBy: '@keylane/engine',
    description: 'A mutation callback returned after one of its statements failed; the engine rolled back, so nothing was committed.',
  },
  invalid_history: {
    retryable: false,
    effect: 'n/a',
    raisedBy: '@keylane/checker',
    description: 'A history breaks the checker\'s model (a write of `null`, a value written twice, completion before invocation).',
  },
  invalid_history_line: {
    retryable: false,
    effect: 'n/a',
    raisedBy: '@keylane/checker',
    description: 'A JSONL line is not a well-formed operation.',
  },
  recorder_misuse: {
    retryable: false,
    effect: 'n/a',
    raisedBy: '@keylane/checker',
    description: 'The recorder was used in a way that would corrupt the history (e.g. completing twice).',
  },
  fleet_unhealthy: {
    retryable: true,
    effect: 'none',
    raisedBy: 'fleet',
    description: "A fleet's instances did not all become healthy in the SDK's view before a run; nothing was run.",
  },
  dependency_unreachable: {
    retryable: true,
    effect: 'none',
    raisedBy: 'fleet',
    description: 'Postgres or Redis could not be reached; nothing was started.',
  },
  instance_start_failed: {
    retryable: false,
    effect: 'n/a',
    raisedBy: 'fleet',
    description: 'An instance exited or stayed unready while the fleet was starting; its last output is attached.',
  },
  service_bin_missing: {
    retryable: false,
    effect: 'n/a',
    raisedBy: 'fleet',
    description: "The item service's build output is missing: build it first.",
  },
  bench_measurement_failed: {
    retryable: false,
    effect: 'n/a',
    raisedBy: 'bench',
    description: 'A measurement could not produce a number (every operation failed, a child did not start).',
  },
} as const satisfies Record<string, { retryable: boolean; effect: ErrorEffect; raisedBy: string; description: string }>;

export type LocalErrorCode = keyof typeof LOCAL_ERROR_CODES;
