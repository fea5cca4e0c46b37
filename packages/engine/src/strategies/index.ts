import type { StrategyName } from '../types.js';
import { LockedStrategy } from './locked.js';
import { SerialGuardedStrategy } from './serial-guarded.js';
import { SerialStrategy } from './serial.js';
import type { Strategy, StrategyContext } from './strategy.js';
import { CacheAsideStrategy, DoubleDeleteStrategy, InvalidateFirstStrategy } from './unserialized.js';

export function createStrategy(name: StrategyName, ctx: StrategyContext): Strategy {
  switch (name) {
    case 'cache-aside':
      return new CacheAsideStrategy(ctx);
    case 'invalidate-first':
      return new InvalidateFirstStrategy(ctx);
    case 'double-delete':
      return new DoubleDeleteStrategy(ctx);
    case 'locked':
      return new LockedStrategy(ctx);
    case 'serial':
      return new SerialStrategy(ctx);
    case 'serial-guarded':
      return new SerialGuardedStrategy(ctx);
  }
}

/** Strategies whose misses and writes run in the key's lane. */
export function isSerialized(name: StrategyName): boolean {
  return name === 'serial' || name === 'serial-guarded';
}

export type { Strategy, StrategyContext } from './strategy.js';
