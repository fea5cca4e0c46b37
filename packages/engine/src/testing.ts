/**
 * `@keylane/engine/testing`: for tests and fault injection only. What it hands out goes around
 * the lanes and the guard the engine exists to provide; application code uses
 * `engine.runInLane` and the entity API.
 */
import type { LongIdInput } from '@keylane/protocol';
import type pg from 'pg';
import { internalsOf } from './internals.js';
import type { Engine } from './types.js';

/**
 * The key's lane's current `pg.Client`, outside the lane's queue: a test finds its backend
 * (`pg_backend_pid()`) to terminate it, or holds the socket busy under a queued job. The lane
 * replaces it after a break, so ask again after one.
 */
export function laneClient(engine: Engine, key: LongIdInput): pg.Client {
  return internalsOf(engine).laneClient(key);
}
