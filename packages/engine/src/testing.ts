/**
 * `@keylane/engine/testing`: for tests and fault injection only. What it hands out goes around
 * the lanes and the guard the engine exists to provide; application code uses
 * `engine.runInLane` and the entity API.
 */
import type { LongIdInput } from '@keylane/protocol';
import type pg from 'pg';
import { inspectorOf, internalsOf, type Inspection } from './internals.js';
import type { Engine, Entity, KeyInput, KeyKind } from './types.js';

export type { Inspection } from './internals.js';

/**
 * The key's raw cache entry (`undefined`: nothing cached, `null`: absence cached) and what the
 * entity's `load` returns now, both read outside the lanes and the guard: for convergence
 * checks at rest and for tests (the items API's is `inspect(items.entity, id)`). During
 * traffic the two may differ for a moment without anything being wrong.
 */
export function inspect<V, K extends KeyKind>(entity: Entity<V, K>, id: KeyInput<K>): Promise<Inspection<V>> {
  return inspectorOf(entity)(id) as Promise<Inspection<V>>;
}

/**
 * The key's lane's current `pg.Client`, outside the lane's queue: a test finds its backend
 * (`pg_backend_pid()`) to terminate it, or holds the socket busy under a queued job. The lane
 * replaces it after a break, so ask again after one.
 */
export function laneClient(engine: Engine, key: LongIdInput): pg.Client {
  return internalsOf(engine).laneClient(key);
}
