import { STRATEGY_NAMES, type StrategyName } from '@keylane/engine/baselines';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from '../fleet/index.js';
import { InvalidOptionsError } from '@keylane/protocol';

export const SECTION_NAMES = [
  'ceilings',
  'strategies',
  'direct',
  'embedded',
  'bentocache',
  'peers',
  'checked',
  'single-flight',
  'deployments',
  'overload',
  'routing',
] as const;
export type SectionName = (typeof SECTION_NAMES)[number];

export interface BenchOptions {
  /** Short budget for CI smoke runs; every default below has a quick value. @default false */
  quick?: boolean;
  /** Seeds the keys and every caller's operation stream. @default 1 */
  seed?: number;
  /** Repetitions of every measurement; figures are medians over them. @default 3 (quick: 1) */
  runs?: number;
  /** Callers of every closed loop (and streams of the open loops). @default 32 (quick: 16) */
  concurrency?: number;
  /** Measured window of each load phase, ms. @default 3000 (quick: 600) */
  durationMs?: number;
  /** Unmeasured load before each workload's closed loop, ms. @default 1000 (quick: 150) */
  warmupMs?: number;
  /** Offered rate of the open loops, operations per second. @default 1000 (quick: 500) */
  ratePerSec?: number;
  /**
   * KEYLANE_LANES of every instance, and so the pg pool size of the unserialized strategies,
   * of the direct cache-aside and of the SELECT ceiling. Below the service's 16 because an
   * unserialized instance opens its lanes and a pool of the same size: 3 x 2 x 16 = 96
   * connections would exhaust a default Postgres (max_connections 100), shared here with
   * other test runs. @default 10
   */
  lanes?: number;
  /** Distinct keys of the Zipfian workloads. @default 10000 (quick: 1000) */
  keys?: number;
  /** Zipf exponent of key popularity. @default 1.0 */
  zipfExponent?: number;
  /** Sections to run. @default all */
  only?: readonly SectionName[];
  /** Engine strategies to run. @default every STRATEGY_NAMES entry */
  strategies?: readonly StrategyName[];
  /** Invalidations per instance in the single-flight section (and expiries per deployment in `deployments`). @default 10 (quick: 3) */
  singleFlightRounds?: number;
  /** Concurrent reads per invalidation. @default 16 */
  singleFlightBurst?: number;
  /** getServiceConnection calls per timed sample. @default 1000000 (quick: 100000) */
  routingCalls?: number;
  /** @default DEFAULT_DATABASE_URL of src/fleet/reachability.ts (`postgres://postgres@127.0.0.1:5432/postgres`) */
  databaseUrl?: string;
  /** @default DEFAULT_REDIS_URL of src/fleet/reachability.ts (`redis://127.0.0.1:6379`) */
  redisUrl?: string;
  /** Directory for CPU profiles of the service instances (node --cpu-prof); none when absent. */
  cpuProfDir?: string;
  /**
   * Group commit of a hot key's queued writes in the fleet's instances (KEYLANE_GROUP_COMMIT)
   * and in the embedded engine: false measures one transaction per write. @default true
   */
  groupCommit?: boolean;
}

export type ResolvedBenchOptions = Readonly<
  Required<Omit<BenchOptions, 'cpuProfDir' | 'only' | 'strategies'>> & {
    only: readonly SectionName[];
    strategies: readonly StrategyName[];
    cpuProfDir: string | null;
  }
>;

export const DEFAULT_BENCH_OPTIONS = {
  seed: 1,
  runs: 3,
  concurrency: 32,
  durationMs: 3_000,
  warmupMs: 1_000,
  ratePerSec: 1_000,
  lanes: 10,
  keys: 10_000,
  zipfExponent: 1.0,
  singleFlightRounds: 10,
  singleFlightBurst: 16,
  routingCalls: 1_000_000,
  groupCommit: true,
  databaseUrl: DEFAULT_DATABASE_URL,
  redisUrl: DEFAULT_REDIS_URL,
} as const;

export const QUICK_BENCH_OPTIONS = {
  runs: 1,
  concurrency: 16,
  durationMs: 600,
  warmupMs: 150,
  ratePerSec: 500,
  keys: 1_000,
  singleFlightRounds: 3,
  routingCalls: 100_000,
} as const;

/** Only to 127.0.0.1/localhost: the bench floods what it points at. */
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function resolveBenchOptions(options: BenchOptions = {}): ResolvedBenchOptions {
  const quick = options.quick ?? false;
  const base = { ...DEFAULT_BENCH_OPTIONS, ...(quick ? QUICK_BENCH_OPTIONS : {}) };
  const pick = <K extends keyof typeof base>(name: K): (typeof base)[K] =>
    (options[name as keyof BenchOptions] as (typeof base)[K] | undefined) ?? base[name];
  const resolved = {
    quick,
    seed: pick('seed'),
    runs: pick('runs'),
    concurrency: pick('concurrency'),
    durationMs: pick('durationMs'),
    warmupMs: pick('warmupMs'),
    ratePerSec: pick('ratePerSec'),
    lanes: pick('lanes'),
    keys: pick('keys'),
    zipfExponent: pick('zipfExponent'),
    singleFlightRounds: pick('singleFlightRounds'),
    singleFlightBurst: pick('singleFlightBurst'),
    routingCalls: pick('routingCalls'),
    groupCommit: pick('groupCommit'),
    databaseUrl: pick('databaseUrl'),
    redisUrl: pick('redisUrl'),
    only: options.only ?? SECTION_NAMES,
    strategies: options.strategies ?? STRATEGY_NAMES,
    cpuProfDir: options.cpuProfDir ?? null,
  };
  integer('seed', resolved.seed, 0, 0xffff_ffff);
  integer('runs', resolved.runs, 1, 50);
  integer('concurrency', resolved.concurrency, 1, 1_024);
  integer('durationMs', resolved.durationMs, 50, 600_000);
  integer('warmupMs', resolved.warmupMs, 0, 600_000);
  integer('ratePerSec', resolved.ratePerSec, 1, 1_000_000);
  integer('lanes', resolved.lanes, 1, 1_024);
  integer('keys', resolved.keys, 10, 1_000_000);
  integer('singleFlightRounds', resolved.singleFlightRounds, 1, 10_000);
  integer('singleFlightBurst', resolved.singleFlightBurst, 1, 1_024);
  integer('routingCalls', resolved.routingCalls, 1_000, 100_000_000);
  if (!(resolved.zipfExponent >= 0 && resolved.zipfExponent <= 5)) {
    throw new InvalidOptionsError(
      'zipfExponent',
      `must be in [0, 5], got ${resolved.zipfExponent}`,
    );
  }
  if (resolved.only.length === 0)
    throw new InvalidOptionsError('only', 'must name at least one section');
  for (const section of resolved.only) {
    if (!(SECTION_NAMES as readonly string[]).includes(section)) {
      throw new InvalidOptionsError(
        'only',
        `unknown section "${section}" (expected ${SECTION_NAMES.join(', ')})`,
      );
    }
  }
  if (resolved.strategies.length === 0)
    throw new InvalidOptionsError('strategies', 'must name at least one strategy');
  for (const strategy of resolved.strategies) {
    if (!STRATEGY_NAMES.includes(strategy)) {
      throw new InvalidOptionsError(
        'strategies',
        `unknown strategy "${strategy}" (expected ${STRATEGY_NAMES.join(', ')})`,
      );
    }
  }
  localUrl('databaseUrl', resolved.databaseUrl, ['postgres:', 'postgresql:']);
  localUrl('redisUrl', resolved.redisUrl, ['redis:']);
  return Object.freeze(resolved);
}

// The command-line flag of each option that has one: a message about `durationMs` then also
// says which flag to change.
const FLAGS: Partial<Record<keyof BenchOptions, string>> = {
  concurrency: '--concurrency',
  databaseUrl: '--database-url',
  durationMs: '--duration',
  keys: '--keys',
  lanes: '--lanes',
  ratePerSec: '--rate',
  redisUrl: '--redis-url',
  runs: '--runs',
  seed: '--seed',
  warmupMs: '--warmup',
};

function flagOf(name: keyof BenchOptions): string {
  const flag = FLAGS[name];
  return flag === undefined ? '' : ` (${flag})`;
}

function integer(name: keyof BenchOptions, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionsError(
      name,
      `must be an integer in [${min}, ${max}]${flagOf(name)}, got ${String(value)}`,
    );
  }
}

function localUrl(
  name: 'databaseUrl' | 'redisUrl',
  value: string,
  protocols: readonly string[],
): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidOptionsError(name, `is not a URL${flagOf(name)}: ${JSON.stringify(value)}`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new InvalidOptionsError(
      name,
      `must use ${protocols.join(' or ')}${flagOf(name)}, got ${url.protocol}`,
    );
  }
  if (!LOCAL_HOSTS.has(url.hostname)) {
    throw new InvalidOptionsError(
      name,
      `must point at 127.0.0.1 (the bench floods its target)${flagOf(name)}, got ${url.hostname}`,
    );
  }
}
