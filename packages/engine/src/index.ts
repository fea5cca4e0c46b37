export { createEngine } from './engine.js';
export {
  InvalidOptionsError,
  InvalidValueError,
  WriteExpiredError,
  WriteOutcomeUnknownError,
} from './errors.js';
export { DEFAULTS } from './options.js';
export {
  STRATEGY_NAMES,
  type StrategyName,
  type PostgresOptions,
  type RedisOptions,
  type ChaosOptions,
  type EngineOptions,
  type WriteOptions,
  type DBConnection,
  type LaneStats,
  type EngineStats,
  type EngineHealth,
  type Engine,
} from './types.js';
