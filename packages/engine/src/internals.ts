import type { LongIdInput } from '@keylane/protocol';
import type pg from 'pg';
import type { Engine } from './types.js';

/** What `@keylane/engine/testing` reaches that the public `Engine` deliberately does not offer. */
export interface EngineInternals {
  /** The lane's current connection (replaced after a break). */
  laneClient(key: LongIdInput): pg.Client;
}

/** The raw cache entry (`undefined`: nothing cached, `null`: absence cached) and the row now. */
export interface Inspection<V> {
  cached: V | null | undefined;
  stored: V | null;
}

// Keyed by the engine (or entity) object so nothing about it shows on the public type or at runtime.
const internals = new WeakMap<Engine, EngineInternals>();
const inspectors = new WeakMap<object, (id: never) => Promise<Inspection<unknown>>>();

/** Makes `target` (an entity, the items API) inspectable through `@keylane/engine/testing`. */
export function registerInspector<I, V>(target: object, inspect: (id: I) => Promise<Inspection<V>>): void {
  inspectors.set(target, inspect);
}

export function inspectorOf(target: object): (id: unknown) => Promise<Inspection<unknown>> {
  const inspect = inspectors.get(target);
  if (inspect === undefined) throw new TypeError('not an entity made by engine.entity, nor the items API');
  return inspect as (id: unknown) => Promise<Inspection<unknown>>;
}

export function registerInternals(engine: Engine, parts: EngineInternals): void {
  internals.set(engine, parts);
}

export function internalsOf(engine: Engine): EngineInternals {
  const parts = internals.get(engine);
  if (parts === undefined) throw new TypeError('not an engine made by createEngine');
  return parts;
}
