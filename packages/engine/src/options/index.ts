import type { Cluster, Redis } from 'ioredis';
import type pg from 'pg';
import { InvalidOptionsError } from '../errors.js';
import type { EngineOptions, StrategyName } from '../types.js';
import { DEFAULTS, ENGINE_OPTIONS, integerRange, MAX_TIMER_MS, type IntegerOption } from './schema.js';

export { DEFAULTS, ENGINE_OPTIONS, MAX_TIMER_MS, type EngineOptionName, type IntegerOption } from './schema.js';

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
   * The unsafe twin of the replica watermark: a miss reads the replica whatever it has
   * replayed ('naive'), as a hand-written read-replica split would. For the test that shows why.
   */
  replicaReads?: 'watermark' | 'naive';
  /**
   * The unsafe twin of sharing a miss's answer only with misses asked before it began: any
   * queued miss of the key takes the last answer, even one read before it was asked (so before
   * a write it should see). For the test that shows why.
   */
  shareEarlierReads?: boolean;
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
  /** The user's pg config, minus the engine's own `statementTimeoutMs` and `replicas`. */
  readonly postgres: Readonly<pg.ClientConfig>;
  /** Streaming replicas misses may read (README "Replica reads"); empty: the primary only. */
  readonly replicas: readonly Readonly<pg.ClientConfig>[];
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
  /** See watermarkTtlMs(). */
  readonly watermarkTtlMs: number;
  /** See floorWindowMs(). */
  readonly floorWindowMs: number;
  readonly maxQueuePerLane: number;
  readonly maxQueueWaitMs: number;
  readonly doubleDeleteDelayMs: number;
  readonly lockTtlMs: number;
  readonly chaos: Readonly<Required<ChaosOptions>>;
}

/**
 * How long a key's watermark outlives its last touch: six marker lives. Its absence from Redis
 * then means no write touched the key for that long (or Redis lost it, which the engine sees
 * as a restart). Every engine sharing a key prefix must use the same markerTtlMs.
 */
export function watermarkTtlMs(markerTtlMs: number): number {
  return 6 * markerTtlMs;
}

/**
 * The window of the floor LSN that keys without a watermark are read against: a write that
 * last touched such a key did so at least watermarkTtlMs ago and committed at most one marker
 * life later, so a primary LSN sampled within the last four marker lives covers its commit
 * (the sixth life is margin for clock rates and the sampling interval).
 */
export function floorWindowMs(markerTtlMs: number): number {
  return 4 * markerTtlMs;
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
  const { postgres, statementTimeoutMs, replicas } = resolvePostgres(options.postgres);
  const { redis, keyPrefix } = resolveRedis(options.redis);
  const strategy = options.strategy ?? DEFAULTS.strategy;
  if (!STRATEGY_NAMES.includes(strategy)) {
    throw new InvalidOptionsError(
      'strategy',
      `expected one of ${STRATEGY_NAMES.join(', ')}, got ${JSON.stringify(strategy)}`,
    );
  }
  if (replicas.length > 0 && strategy !== 'serial-guarded') {
    throw new InvalidOptionsError('postgres.replicas', `replica reads need the guard's watermarks: serial-guarded only, not ${strategy}`);
  }
  const markerTtlMs = option(ENGINE_OPTIONS.markerTtlMs, options.markerTtlMs);
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
  if (c.replicaReads !== undefined && c.replicaReads !== 'watermark' && c.replicaReads !== 'naive') {
    throw new InvalidOptionsError('chaos.replicaReads', `expected 'watermark' or 'naive', got ${JSON.stringify(c.replicaReads)}`);
  }
  for (const flag of ['clientSideFence', 'ignoreRedisRestarts', 'shareEarlierReads'] as const) {
    if (c[flag] !== undefined && typeof c[flag] !== 'boolean') {
      throw new InvalidOptionsError(`chaos.${flag}`, `expected a boolean, got ${JSON.stringify(c[flag])}`);
    }
  }
  return Object.freeze({
    postgres,
    replicas,
    statementTimeoutMs,
    redis,
    keyPrefix,
    lanes: option(ENGINE_OPTIONS.lanes, options.lanes),
    strategy,
    cacheTtlMs: option(ENGINE_OPTIONS.cacheTtlMs, options.cacheTtlMs),
    leaseTtlMs: option(ENGINE_OPTIONS.leaseTtlMs, options.leaseTtlMs),
    markerTtlMs,
    // A tenth of the marker's life, at most a second: skew beyond that is an ops problem.
    markerMarginMs: Math.min(1_000, Math.floor(markerTtlMs / 10)),
    watermarkTtlMs: watermarkTtlMs(markerTtlMs),
    floorWindowMs: floorWindowMs(markerTtlMs),
    maxQueuePerLane: option(ENGINE_OPTIONS.maxQueuePerLane, options.maxQueuePerLane),
    maxQueueWaitMs: option(ENGINE_OPTIONS.maxQueueWaitMs, options.maxQueueWaitMs),
    doubleDeleteDelayMs: option(ENGINE_OPTIONS.doubleDeleteDelayMs, options.doubleDeleteDelayMs),
    lockTtlMs: option(ENGINE_OPTIONS.lockTtlMs, options.lockTtlMs),
    chaos: Object.freeze({
      fillDelayMs: option(ENGINE_OPTIONS.chaosFillDelayMs, c.fillDelayMs),
      writeDelayMs: option(ENGINE_OPTIONS.chaosWriteDelayMs, c.writeDelayMs),
      commitDelayMs: option(ENGINE_OPTIONS.chaosCommitDelayMs, c.commitDelayMs),
      clientSideFence: c.clientSideFence ?? false,
      ignoreRedisRestarts: c.ignoreRedisRestarts ?? false,
      replicaReads: c.replicaReads ?? 'watermark',
      shareEarlierReads: c.shareEarlierReads ?? false,
    }),
  });
}

function resolvePostgres(value: unknown): {
  postgres: Readonly<pg.ClientConfig>;
  statementTimeoutMs: number;
  replicas: readonly Readonly<pg.ClientConfig>[];
} {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionsError('postgres', 'expected a node-postgres client config (an object with connectionString, or host/port/user/...)');
  }
  const { statementTimeoutMs, replicas, ...config } = value as Record<string, unknown>;
  if ('schema' in config) {
    throw new InvalidOptionsError(
      'postgres.schema',
      'the engine no longer owns a table; the items table takes its schema: createItems(engine, { schema })',
    );
  }
  return {
    postgres: clientConfigOf('postgres', config),
    statementTimeoutMs: option(ENGINE_OPTIONS.statementTimeoutMs, statementTimeoutMs),
    replicas: resolveReplicas(replicas),
  };
}

/** A pg client config the engine derives its timeouts into. */
function clientConfigOf(name: string, config: Record<string, unknown>): Readonly<pg.ClientConfig> {
  for (const derived of ['statement_timeout', 'query_timeout']) {
    if (derived in config) {
      throw new InvalidOptionsError(
        `${name}.${derived}`,
        'set postgres.statementTimeoutMs instead: the engine derives statement_timeout and query_timeout from it',
      );
    }
  }
  const { connectionString } = config;
  if (connectionString !== undefined && (typeof connectionString !== 'string' || connectionString.length === 0)) {
    throw new InvalidOptionsError(`${name}.connectionString`, `expected a non-empty string, got ${JSON.stringify(connectionString)}`);
  }
  return Object.freeze(config as pg.ClientConfig);
}

const MAX_REPLICAS = 16;

function resolveReplicas(value: unknown): readonly Readonly<pg.ClientConfig>[] {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value) || value.length > MAX_REPLICAS) {
    throw new InvalidOptionsError('postgres.replicas', `expected an array of at most ${MAX_REPLICAS} node-postgres client configs, one per streaming replica`);
  }
  return Object.freeze(
    value.map((replica: unknown, i) => {
      if (typeof replica !== 'object' || replica === null || Array.isArray(replica)) {
        throw new InvalidOptionsError(`postgres.replicas[${i}]`, 'expected a node-postgres client config (an object with connectionString, or host/port/user/...)');
      }
      return clientConfigOf(`postgres.replicas[${i}]`, replica as Record<string, unknown>);
    }),
  );
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
    replicas: option(ENGINE_OPTIONS.markerReplicas, options.markerReplicas),
    timeoutMs: option(ENGINE_OPTIONS.markerReplicationTimeoutMs, options.markerReplicationTimeoutMs),
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
      commandTimeoutMs: option(ENGINE_OPTIONS.redisCommandTimeoutMs, options.commandTimeoutMs),
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

/** An option of the table: its default when unset, else the value if it is an integer in range. */
function option(spec: IntegerOption, value: unknown): number {
  return int(spec.path, value, spec.default, spec.min, spec.max);
}

/** A positive TTL in ms that Redis' PX and Node's timers both take (an entity's `ttlMs`). */
export function cacheTtl(name: string, value: unknown, fallback: number): number {
  return int(name, value, fallback, ENGINE_OPTIONS.cacheTtlMs.min, MAX_TIMER_MS);
}

export function int(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionsError(
      name,
      `expected ${integerRange({ min, max })}, got ${typeof value === 'number' ? String(value) : JSON.stringify(value) ?? typeof value}`,
    );
  }
  return value;
}
