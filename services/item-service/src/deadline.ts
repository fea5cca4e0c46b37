import { DEADLINE_HEADER, DeadlineExceededError, KeylaneError } from '@keylane/protocol';
import type { FastifyRequest } from 'fastify';

/** A Keylane header the service cannot read. */
export class InvalidHeaderError extends KeylaneError {
  declare readonly code: 'invalid_header';

  constructor(message: string) {
    super('invalid_header', message);
  }
}

// Epoch ms: 13 digits until the year 2286; a 16-digit cap refuses junk before Number() sees it.
const EPOCH_MS = /^[0-9]{1,16}$/;

/**
 * The request's deadline on this instance's clock: the caller's `x-keylane-deadline` moved
 * `skewMs` earlier, so a caller whose clock runs behind ours by up to that much still hears
 * back before its own timer while the work is refused or fenced. `undefined` when the request
 * carries none (a caller other than the SDK). Throws `InvalidHeaderError` for a malformed one
 * and `DeadlineExceededError` for one already past: nothing is started.
 */
export function requestDeadline(request: FastifyRequest, skewMs: number, now = Date.now()): number | undefined {
  const raw = request.headers[DEADLINE_HEADER];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !EPOCH_MS.test(raw)) {
    throw new InvalidHeaderError(`${DEADLINE_HEADER} must be integer epoch milliseconds, got ${JSON.stringify(raw).slice(0, 40)}`);
  }
  const deadline = Number(raw) - skewMs;
  if (deadline <= now) {
    throw new DeadlineExceededError(
      `the request's deadline passed ${now - deadline} ms before it was read here; nothing was started`,
    );
  }
  return deadline;
}
