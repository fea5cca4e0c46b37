import type { StrategyName } from '../types.js';

/**
 * The engine's options, each written once: where it sits in the options object, its default,
 * its range and its description. Validation (resolveOptions), `DEFAULTS`, the README's option
 * table (checked row by row against this, test/options-schema.unit.test.ts) and the item service's
 * environment variables (default and range of each `KEYLANE_*` that sets one) all read it, so
 * a default or a bound changed here changes everywhere, and a copy that drifted fails a test.
 */

/** The longest delay Node's timers take (a larger one fires at once), and so a TTL's bound. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** An integer option. Only integers: `1.5` lanes or `"16"` is refused, never coerced. */
export interface IntegerOption {
  /** Where it sits in the options object, as the error names it: `lanes`, `redis.markerReplicas`. */
  readonly path: string;
  readonly default: number;
  readonly min: number;
  readonly max: number;
  /** What the default means, when a number alone does not say it (`0`: none). */
  readonly defaultMeans?: string;
  /** The README's description of it. */
  readonly description: string;
  /**
   * 'baselines': only `@keylane/engine/baselines` takes it (the main entry refuses it, so no
   * setting can turn the guard off in production). Those are documented in their JSDoc only.
   */
  readonly entry: 'main' | 'baselines';
}

function integer(
  path: string,
  defaultValue: number,
  min: number,
  max: number,
  description: string,
  more: { defaultMeans?: string; entry?: 'baselines' } = {},
): IntegerOption {
  return Object.freeze({
    path,
    default: defaultValue,
    min,
    max,
    description,
    entry: more.entry ?? 'main',
    ...(more.defaultMeans ? { defaultMeans: more.defaultMeans } : {}),
  });
}

export const ENGINE_OPTIONS = Object.freeze({
  statementTimeoutMs: integer(
    'postgres.statementTimeoutMs',
    30_000,
    0,
    MAX_TIMER_MS,
    '`statement_timeout` of every engine connection (0: none); a statement stuck behind a lock cannot hold its lane longer, and a cancelled statement commits nothing. A statement with no answer at all for twice that (at least 1 s more) is presumed lost with Postgres: the connection is dropped and the lane reconnects for its next job. (Set this, not `statement_timeout`/`query_timeout`.)',
  ),
  redisCommandTimeoutMs: integer(
    'redis.commandTimeoutMs',
    2_000,
    10,
    60_000,
    'bounds a command sent into a hung connection (`url` form only)',
  ),
  markerReplicas: integer(
    'redis.markerReplicas',
    0,
    0,
    64,
    "replicas a write marker (and an `invalidate`) must reach before the DB write: `WAIT` after the begin script, on the master of the key's slot; fewer refuse the write, nothing committed (`MarkerNotReplicatedError`). See [Scaling out](#scaling-out)",
  ),
  markerReplicationTimeoutMs: integer(
    'redis.markerReplicationTimeoutMs',
    100,
    1,
    60_000,
    'how long that `WAIT` may take (only with `markerReplicas` ≥ 1)',
  ),
  lanes: integer('lanes', 16, 1, 1024, 'keyed DB connections, shared by every entity'),
  cacheTtlMs: integer('cacheTtlMs', 300_000, 1, MAX_TIMER_MS, 'default TTL of cached values'),
  leaseTtlMs: integer('leaseTtlMs', 5_000, 10, 3_600_000, 'TTL of a fill lease'),
  markerTtlMs: integer(
    'markerTtlMs',
    10_000,
    100,
    3_600_000,
    'life of a write marker; a mutation must commit within it minus the margin',
  ),
  maxQueuePerLane: integer(
    'maxQueuePerLane',
    10_000,
    1,
    10_000_000,
    'waiting jobs per lane before `OverloadedError`',
  ),
  maxQueueWaitMs: integer(
    'maxQueueWaitMs',
    0,
    0,
    3_600_000,
    'longest expected queue wait a job is admitted to, whatever its deadline; past it `OverloadedError` at once (the item service sets 500 ms)',
    { defaultMeans: 'none' },
  ),
  doubleDeleteDelayMs: integer(
    'doubleDeleteDelayMs',
    100,
    0,
    60_000,
    '`double-delete` only: delay before the second DEL',
    {
      entry: 'baselines',
    },
  ),
  lockTtlMs: integer(
    'lockTtlMs',
    5_000,
    10,
    3_600_000,
    '`locked` only: TTL of the per-key Redis lock',
    { entry: 'baselines' },
  ),
  chaosFillDelayMs: integer(
    'chaos.fillDelayMs',
    0,
    0,
    600_000,
    "pause between a miss's DB read and its cache fill",
    {
      entry: 'baselines',
    },
  ),
  chaosWriteDelayMs: integer(
    'chaos.writeDelayMs',
    0,
    0,
    600_000,
    "pause between a write's invalidation and its transaction",
    {
      entry: 'baselines',
    },
  ),
  chaosCommitDelayMs: integer(
    'chaos.commitDelayMs',
    0,
    0,
    600_000,
    "pause between the end of a mutation's callback and its COMMIT (a GC pause, SIGSTOP)",
    { entry: 'baselines' },
  ),
} satisfies Record<string, IntegerOption>);

export type EngineOptionName = keyof typeof ENGINE_OPTIONS;

/** The README's form of a default: `30_000`, `0` (none). */
export function shownDefault(option: IntegerOption): string {
  const digits = String(option.default).replace(/\B(?=(\d{3})+$)/g, '_');
  return option.defaultMeans ? `\`${digits}\` (${option.defaultMeans})` : `\`${digits}\``;
}

/** What a refused value is told: the same words for the engine's options and the service's variables. */
export function integerRange(option: Pick<IntegerOption, 'min' | 'max'>): string {
  return `an integer in [${option.min}, ${option.max}]`;
}

type IntegerDefaults = { readonly [K in EngineOptionName]: (typeof ENGINE_OPTIONS)[K]['default'] };

/** Every default in one object (the public `DEFAULTS` of `@keylane/engine`), read off the table. */
export const DEFAULTS = Object.freeze({
  ...(Object.fromEntries(
    Object.entries(ENGINE_OPTIONS).map(([name, o]) => [name, o.default]),
  ) as IntegerDefaults),
  keyPrefix: 'kl',
  strategy: 'serial-guarded' satisfies StrategyName,
  /** Not an option: how long `health()` waits for each of its probes. */
  healthTimeoutMs: 1_000,
});
