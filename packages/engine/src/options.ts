import { InvalidOptionsError } from './errors.js';
import {
  STRATEGY_NAMES,
  type ChaosOptions,
  type EngineOptions,
  type StrategyName,
} from './types.js';

/** Every default in one place; types.ts documents each with `@default`. */
export const DEFAULTS = {
  schema: 'keylane',
  keyPrefix: 'kl',
  lanes: 16,
  strategy: 'serial-guarded' as StrategyName,
  cacheTtlMs: 300_000,
  leaseTtlMs: 5_000,
  markerTtlMs: 10_000,
  maxQueuePerLane: 10_000,
  doubleDeleteDelayMs: 100,
  lockTtlMs: 5_000,
  redisCommandTimeoutMs: 2_000,
  statementTimeoutMs: 30_000,
  healthTimeoutMs: 1_000,
} as const;

/** Options after validation: every field present, frozen. */
export interface ResolvedOptions {
  readonly connectionString: string;
  readonly schema: string;
  /** 0: none. */
  readonly statementTimeoutMs: number;
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly redisCommandTimeoutMs: number;
  readonly lanes: number;
  readonly strategy: StrategyName;
  readonly cacheTtlMs: number;
  readonly leaseTtlMs: number;
  readonly markerTtlMs: number;
  /**
   * How much earlier than the marker's expiry (on Redis' clock) the DB write must run (on
   * Postgres' clock): the clock skew plus commit latency the guard tolerates.
   */
  readonly markerMarginMs: number;
  readonly maxQueuePerLane: number;
  readonly doubleDeleteDelayMs: number;
  readonly lockTtlMs: number;
  readonly chaos: Readonly<Required<ChaosOptions>>;
}

// Schema names go into SQL as identifiers; keep them to a conservative unquoted form.
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
// Key prefixes sit inside a hash tag `{prefix:id}`: braces would move the tag.
const KEY_PREFIX = /^[^{}\s]{1,64}$/;

export function resolveOptions(options: EngineOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionsError('options', 'expected an object');
  }
  const pgOpts: unknown = options.postgres;
  if (typeof pgOpts !== 'object' || pgOpts === null) {
    throw new InvalidOptionsError('postgres', 'expected an object with connectionString');
  }
  const { connectionString, schema = DEFAULTS.schema, statementTimeoutMs } = options.postgres;
  if (typeof connectionString !== 'string' || connectionString.length === 0) {
    throw new InvalidOptionsError('postgres.connectionString', 'expected a non-empty string');
  }
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema)) {
    throw new InvalidOptionsError(
      'postgres.schema',
      `expected a lowercase identifier matching ${String(IDENTIFIER)}, got ${JSON.stringify(schema)}`,
    );
  }
  const redisOpts: unknown = options.redis;
  if (typeof redisOpts !== 'object' || redisOpts === null) {
    throw new InvalidOptionsError('redis', 'expected an object with url');
  }
  const {
    url: redisUrl,
    keyPrefix = DEFAULTS.keyPrefix,
    commandTimeoutMs: redisCommandTimeoutMs = DEFAULTS.redisCommandTimeoutMs,
  } = options.redis;
  if (typeof redisUrl !== 'string' || !/^rediss?:\/\//.test(redisUrl)) {
    throw new InvalidOptionsError('redis.url', `expected a redis:// or rediss:// URL, got ${JSON.stringify(redisUrl)}`);
  }
  if (typeof keyPrefix !== 'string' || !KEY_PREFIX.test(keyPrefix)) {
    throw new InvalidOptionsError(
      'redis.keyPrefix',
      `expected 1-64 characters without braces or whitespace, got ${JSON.stringify(keyPrefix)}`,
    );
  }
  const strategy = options.strategy ?? DEFAULTS.strategy;
  if (!STRATEGY_NAMES.includes(strategy)) {
    throw new InvalidOptionsError(
      'strategy',
      `expected one of ${STRATEGY_NAMES.join(', ')}, got ${JSON.stringify(strategy)}`,
    );
  }
  const markerTtlMs = int('markerTtlMs', options.markerTtlMs, DEFAULTS.markerTtlMs, 100, 3_600_000);
  const chaos = options.chaos ?? {};
  if (typeof chaos !== 'object' || chaos === null) {
    throw new InvalidOptionsError('chaos', 'expected an object');
  }
  return Object.freeze({
    connectionString,
    schema,
    statementTimeoutMs: int('postgres.statementTimeoutMs', statementTimeoutMs, DEFAULTS.statementTimeoutMs, 0, 2 ** 31 - 1),
    redisUrl,
    keyPrefix,
    redisCommandTimeoutMs: int('redis.commandTimeoutMs', redisCommandTimeoutMs, DEFAULTS.redisCommandTimeoutMs, 10, 60_000),
    lanes: int('lanes', options.lanes, DEFAULTS.lanes, 1, 1024),
    strategy,
    cacheTtlMs: int('cacheTtlMs', options.cacheTtlMs, DEFAULTS.cacheTtlMs, 1, 2 ** 31),
    leaseTtlMs: int('leaseTtlMs', options.leaseTtlMs, DEFAULTS.leaseTtlMs, 10, 3_600_000),
    markerTtlMs,
    // A tenth of the marker's life, at most a second: skew beyond that is an ops problem.
    markerMarginMs: Math.min(1_000, Math.floor(markerTtlMs / 10)),
    maxQueuePerLane: int('maxQueuePerLane', options.maxQueuePerLane, DEFAULTS.maxQueuePerLane, 1, 10_000_000),
    doubleDeleteDelayMs: int('doubleDeleteDelayMs', options.doubleDeleteDelayMs, DEFAULTS.doubleDeleteDelayMs, 0, 60_000),
    lockTtlMs: int('lockTtlMs', options.lockTtlMs, DEFAULTS.lockTtlMs, 10, 3_600_000),
    chaos: Object.freeze({
      fillDelayMs: int('chaos.fillDelayMs', chaos.fillDelayMs, 0, 0, 600_000),
      writeDelayMs: int('chaos.writeDelayMs', chaos.writeDelayMs, 0, 0, 600_000),
    }),
  });
}

function int(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionsError(
      name,
      `expected an integer in [${min}, ${max}], got ${typeof value === 'number' ? String(value) : JSON.stringify(value) ?? typeof value}`,
    );
  }
  return value;
}
