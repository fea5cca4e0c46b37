import type { LongIdInput } from '@keylane/protocol';
import type pg from 'pg';
import type { Engine } from './types.js';

/** What `@keylane/engine/testing` reaches that the public `Engine` deliberately does not offer. */
export interface EngineInternals {
  /** The lane's current connection (replaced after a break). */
  laneClient(key: LongIdInput): pg.Client;
}

// Keyed by the engine object so nothing about it shows on the public type or at runtime.
const internals = new WeakMap<Engine, EngineInternals>();

export function registerInternals(engine: Engine, parts: EngineInternals): void {
  internals.set(engine, parts);
}

export function internalsOf(engine: Engine): EngineInternals {
  const parts = internals.get(engine);
  if (parts === undefined) throw new TypeError('not an engine made by createEngine');
  return parts;
}
