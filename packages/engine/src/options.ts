import type { Cluster, Redis } from 'ioredis';
import type pg from 'pg';
import { InvalidOptionsError } from './errors.js';
import type { EngineOptions, StrategyName } from './types.js';

/** Every default in one place; types.ts documents each with `@default`. */
export const DEFAULTS = {
  keyPrefix: 'kl',
  lanes: 16,
  strategy: 'serial-guarded' as StrategyName,
  cacheTtlMs: 300_000,
  leaseTtlMs: 5_000,
  markerTtlMs: 10_000,
  maxQueuePerLane: 10_000,
  maxQueueWaitMs: 0,
  doubleDeleteDelayMs: 100,
  lockTtlMs: 5_000,
  redisCommandTimeoutMs: 2_000,
  markerReplicas: 0,
  markerReplicationTimeoutMs: 100,
  statementTimeoutMs: 30_000,
  healthTimeoutMs: 1_000,
} as const;

export const STRATEGY_NAMES: readonly StrategyName[] = [
  'cache-aside',
  'invalidate-first',
  'double-delete',
  'locked',
  'serial',
  'serial-guarded',
];

/**
 * Test-only fault injection: widens race windows that are rare in production so the demo
 * and the tests can make them happen on demand. Off unless set.
 */
export interface ChaosOptions {
  /** Pause between a miss's DB read and its cache fill. */
  fillDelayMs?: number;
  /** Pause between a write's invalidation and its transaction. */
  writeDelayMs?: number;
  /** Pause between the end of a mutation's callback and its COMMIT (a GC pause, SIGSTOP). */
  commitDelayMs?: number;
  /**
   * The unsafe twin of holding fills after Redis restarts: fill at once, although writes in
   * flight may have lost their markers. For the test that shows why.
   */
  ignoreRedisRestarts?: boolean;
  /**
   * The unsafe twin of the commit fence: check the deadline in this process just before
   * COMMIT instead of having Postgres refuse a late COMMIT. For the test that shows why.
   */
  clientSideFence?: boolean;
}

/** What `@keylane/engine/baselines` adds to the engine's options. */
export interface LabOptions {
  /** @default 'serial-guarded' */
  strategy?: StrategyName;
  /** `double-delete` only: delay before the second DEL. @default 100 */
  doubleDeleteDelayMs?: number;
  /** `locked` only: TTL of the per-key Redis lock. @default 5_000 */
  lockTtlMs?: number;
  /** Test-only. */
  chaos?: ChaosOptions;
}

export type LabEngineOptions = EngineOptions & LabOptions;

/** `WAIT` after each marker: 0 replicas means none is sent. */
export interface MarkerReplication {
  readonly replicas: number;
  readonly timeoutMs: number;
}

export type ResolvedRedis = (
  | { readonly kind: 'url'; readonly url: string; readonly commandTimeoutMs: number }
  | { readonly kind: 'client'; readonly client: Redis | Cluster }
) & { readonly markerReplication: MarkerReplication };

/** Options after validation: every field present, frozen. */
export interface ResolvedOptions {
  /** The user's pg config, minus the engine's own `statementTimeoutMs`. */
  readonly postgres: Readonly<pg.ClientConfig>;
  /** 0: none. */
  readonly statementTimeoutMs: number;
  readonly redis: ResolvedRedis;
  readonly keyPrefix: string;
  readonly lanes: number;
  readonly strategy: StrategyName;
  readonly cacheTtlMs: number;
  readonly leaseTtlMs: number;
  readonly markerTtlMs: number;
  /**
   * How much earlier than the marker's expiry (on Redis' clock) the commit must happen (on
   * Postgres' clock): the clock skew plus commit latency the guard tolerates.
   */
  readonly markerMarginMs: number;
  readonly maxQueuePerLane: number;
  readonly maxQueueWaitMs: number;
  readonly doubleDeleteDelayMs: number;
  readonly lockTtlMs: number;
  readonly chaos: Readonly<Required<ChaosOptions>>;
}

// Key prefixes sit inside a hash tag `{prefix:...}`: braces would move the tag.
const KEY_PREFIX = /^[^{}\s]{1,64}$/;
const LAB_ONLY = ['strategy', 'chaos', 'doubleDeleteDelayMs', 'lockTtlMs'] as const;

/**
 * Validates the options at the edge. `lab` is true only for `@keylane/engine/baselines`:
 * the main entry refuses the baseline strategies and chaos, so no setting can turn the guard
 * off in production.
 */
export function resolveOptions(options: LabEngineOptions, lab: boolean): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionsError('options', 'expected an object');
  }
  if (!lab) {
    for (const key of LAB_ONLY) {
      if (options[key] !== undefined) {
        throw new InvalidOptionsError(
          key,
          "the baseline strategies and chaos are not part of '@keylane/engine' (it always runs serial-guarded); " +
            "the demo, tests and benchmarks import createEngine from '@keylane/engine/baselines'",
        );
      }
    }
  }
  const { postgres, statementTimeoutMs } = resolvePostgres(options.postgres);
  const { redis, keyPrefix } = resolveRedis(options.redis);
  const strategy = options.strategy ?? DEFAULTS.strategy;
  if (!STRATEGY_NAMES.includes(strategy)) {
    throw new InvalidOptionsError(
      'strategy',
      `expected one of ${STRATEGY_NAMES.join(', ')}, got ${JSON.stringify(strategy)}`,
    );
  }
  const markerTtlMs = int('markerTtlMs', options.markerTtlMs, DEFAULTS.markerTtlMs, 100, 3_600_000);
  const { logger } = options;
  if (
    logger !== undefined &&
    (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function' || typeof logger.info !== 'function')
  ) {
    throw new InvalidOptionsError('logger', 'expected an object with warn(fields, message) and info(fields, message), e.g. a pino logger');
  }
  const chaos: unknown = options.chaos ?? {};
  if (typeof chaos !== 'object' || chaos === null) {
    throw new InvalidOptionsError('chaos', 'expected an object');
  }
  const c = chaos as ChaosOptions;
  for (const flag of ['clientSideFence', 'ignoreRedisRestarts'] as const) {
    if (c[flag] !== undefined && typeof c[flag] !== 'boolean') {
      throw new InvalidOptionsError(`chaos.${flag}`, `expected a boolean, got ${JSON.stringify(c[flag])}`);
    }
  }
  return Object.freeze({
    postgres,
    statementTimeoutMs,
    redis,
    keyPrefix,
    lanes: int('lanes', options.lanes, DEFAULTS.lanes, 1, 1024),
    strategy,
    cacheTtlMs: cacheTtl('cacheTtlMs', options.cacheTtlMs, DEFAULTS.cacheTtlMs),
    leaseTtlMs: int('leaseTtlMs', options.leaseTtlMs, DEFAULTS.leaseTtlMs, 10, 3_600_000),
    markerTtlMs,
    // A tenth of the marker's life, at most a second: skew beyond that is an ops problem.
    markerMarginMs: Math.min(1_000, Math.floor(markerTtlMs / 10)),
    maxQueuePerLane: int('maxQueuePerLane', options.maxQueuePerLane, DEFAULTS.maxQueuePerLane, 1, 10_000_000),
    maxQueueWaitMs: int('maxQueueWaitMs', options.maxQueueWaitMs, DEFAULTS.maxQueueWaitMs, 0, 3_600_000),
    doubleDeleteDelayMs: int('doubleDeleteDelayMs', options.doubleDeleteDelayMs, DEFAULTS.doubleDeleteDelayMs, 0, 60_000),
    lockTtlMs: int('lockTtlMs', options.lockTtlMs, DEFAULTS.lockTtlMs, 10, 3_600_000),
    chaos: Object.freeze({
      fillDelayMs: int('chaos.fillDelayMs', c.fillDelayMs, 0, 0, 600_000),
      writeDelayMs: int('chaos.writeDelayMs', c.writeDelayMs, 0, 0, 600_000),
      commitDelayMs: int('chaos.commitDelayMs', c.commitDelayMs, 0, 0, 600_000),
      clientSideFence: c.clientSideFence ?? false,
      ignoreRedisRestarts: c.ignoreRedisRestarts ?? false,
    }),
  });
}

function resolvePostgres(value: unknown): { postgres: Readonly<pg.ClientConfig>; statementTimeoutMs: number } {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionsError('postgres', 'expected a node-postgres client config (an object with connectionString, or host/port/user/...)');
  }
  const { statementTimeoutMs, ...config } = value as Record<string, unknown>;
  if ('schema' in config) {
    throw new InvalidOptionsError(
      'postgres.schema',
      'the engine no longer owns a table; the items table takes its schema: createItems(engine, { schema })',
    );
  }
  for (const derived of ['statement_timeout', 'query_timeout']) {
    if (derived in config) {
      throw new InvalidOptionsError(
        `postgres.${derived}`,
        'set postgres.statementTimeoutMs instead: the engine derives statement_timeout and query_timeout from it',
      );
    }
  }
  const { connectionString } = config;
  if (connectionString !== undefined && (typeof connectionString !== 'string' || connectionString.length === 0)) {
    throw new InvalidOptionsError('postgres.connectionString', `expected a non-empty string, got ${JSON.stringify(connectionString)}`);
  }
  return {
    postgres: Object.freeze(config as pg.ClientConfig),
    statementTimeoutMs: int('postgres.statementTimeoutMs', statementTimeoutMs, DEFAULTS.statementTimeoutMs, 0, 2 ** 31 - 1),
  };
}

function resolveRedis(value: unknown): { redis: ResolvedRedis; keyPrefix: string } {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionsError('redis', 'expected { url } or { client } (an ioredis Redis or Cluster you own)');
  }
  const options = value as {
    url?: unknown;
    client?: unknown;
    keyPrefix?: unknown;
    commandTimeoutMs?: unknown;
    markerReplicas?: unknown;
    markerReplicationTimeoutMs?: unknown;
  };
  const keyPrefix = options.keyPrefix ?? DEFAULTS.keyPrefix;
  if (typeof keyPrefix !== 'string' || !KEY_PREFIX.test(keyPrefix)) {
    throw new InvalidOptionsError(
      'redis.keyPrefix',
      `expected 1-64 characters without braces or whitespace, got ${JSON.stringify(keyPrefix)}`,
    );
  }
  const markerReplication: MarkerReplication = Object.freeze({
    replicas: int('redis.markerReplicas', options.markerReplicas, DEFAULTS.markerReplicas, 0, 64),
    timeoutMs: int(
      'redis.markerReplicationTimeoutMs',
      options.markerReplicationTimeoutMs,
      DEFAULTS.markerReplicationTimeoutMs,
      1,
      60_000,
    ),
  });
  if (options.markerReplicationTimeoutMs !== undefined && markerReplication.replicas === 0) {
    throw new InvalidOptionsError('redis.markerReplicationTimeoutMs', 'takes effect only with redis.markerReplicas of 1 or more');
  }
  if (options.client !== undefined) {
    if (options.url !== undefined) throw new InvalidOptionsError('redis', 'give either url or client, not both');
    if (options.commandTimeoutMs !== undefined) {
      throw new InvalidOptionsError('redis.commandTimeoutMs', 'a client you pass keeps its own settings; set commandTimeout on it');
    }
    if (!isRedisClient(options.client)) {
      throw new InvalidOptionsError('redis.client', 'expected an ioredis Redis or Cluster instance');
    }
    return { redis: { kind: 'client', client: options.client, markerReplication }, keyPrefix };
  }
  const { url } = options;
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
    throw new InvalidOptionsError('redis.url', `expected a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  }
  return {
    redis: {
      kind: 'url',
      url,
      commandTimeoutMs: int('redis.commandTimeoutMs', options.commandTimeoutMs, DEFAULTS.redisCommandTimeoutMs, 10, 60_000),
      markerReplication,
    },
    keyPrefix,
  };
}

// Duck-typed: the user's ioredis may be another copy of the package than ours.
function isRedisClient(value: unknown): value is Redis | Cluster {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return typeof c['evalsha'] === 'function' && typeof c['get'] === 'function' && typeof c['status'] === 'string';
}

/** A positive TTL in ms that Redis' PX and Node's timers both take. */
export function cacheTtl(name: string, value: unknown, fallback: number): number {
  return int(name, value, fallback, 1, 2 ** 31 - 1);
}

export function int(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionsError(
      name,
      `expected an integer in [${min}, ${max}], got ${typeof value === 'number' ? String(value) : JSON.stringify(value) ?? typeof value}`,
    );
  }
  return value;
}
