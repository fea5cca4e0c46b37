/**
 * `@keylane/engine/baselines`: the engine with the five baseline strategies and chaos, for
 * the demo, the tests and the benchmarks. Never for production: every baseline but
 * serial-guarded lets the cache go stale under races (that is what they are here to show).
 */
import { startEngine } from './engine.js';
import type { LabEngineOptions } from './options/index.js';
import type { Engine } from './types.js';

/** `createEngine` plus `strategy`, `chaos`, `doubleDeleteDelayMs` and `lockTtlMs`. */
export function createEngine(options: LabEngineOptions): Promise<Engine> {
  return startEngine(options, true);
}

export { STRATEGY_NAMES, type ChaosOptions, type LabEngineOptions, type LabOptions } from './options/index.js';
export type { StrategyName } from './types.js';
