import { startEngine } from './engine.js';
import type { Engine, EngineOptions } from './types.js';

/**
 * Connects to Postgres (one connection per lane) and Redis, then returns the engine: always
 * serial-guarded. Declare what it caches with `engine.entity(...)`. Fails with
 * `UnavailableError` if either is unreachable at start; later outages are survived (README).
 */
export function createEngine(options: EngineOptions): Promise<Engine> {
  return startEngine(options, false);
}

export {
  CallerDeadlineError,
  InvalidOptionsError,
  InvalidValueError,
  MarkerNotReplicatedError,
  TransactionAbortedError,
  WriteExpiredError,
  WriteOutcomeUnknownError,
} from './errors.js';
export { DEFAULTS, ENGINE_OPTIONS, MAX_TIMER_MS, type EngineOptionName, type IntegerOption } from './options/index.js';
export { ENGINE_CHANNELS } from './diagnostics.js';
export type {
  FillContext,
  LaneWaitContext,
  LeaseContext,
  MissContext,
  MutateContext,
  QueryContext,
  ReadContext,
  RedisScriptContext,
  TransactionContext,
} from './diagnostics.js';
export type { EngineLogger } from './postgres-link.js';
export { jsonCodec } from './entity/codec.js';
export type {
  Codec,
  Engine,
  EngineHealth,
  EngineOptions,
  EngineStats,
  Entity,
  EntityOptions,
  EntityStats,
  KeyInput,
  KeyKind,
  KeyOf,
  LaneStats,
  ReplicaReadStats,
  CallOptions,
  MutationResult,
  PostgresOptions,
  Queryable,
  RedisClientOptions,
  RedisGuardOptions,
  RedisOptions,
  RedisUrlOptions,
  StrategyName,
} from './types.js';
