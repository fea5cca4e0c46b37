import { InvalidOptionsError, MAX_LONG_ID, MIN_LONG_ID } from '@keylane/protocol';
import { createRng, deriveSeed, type Rng } from './prng.js';

/**
 * The seeded workload every Keylane measurement uses (the demo, the integration tests, and
 * the benchmarks later): a key space where a few hot keys take most of the traffic, and one
 * independent operation stream per caller. The same seed gives the same keys and the same
 * per-caller sequences; only the interleaving depends on timing.
 */
export interface WorkloadOptions {
  /** Reproduces keys and sequences. */
  seed: number;
  /** Distinct keys in the key space (hot ones included). @default 64 */
  keys?: number;
  /** How many of them are hot. @default 4 */
  hotKeys?: number;
  /** Share of operations that go to a hot key, in [0, 1]. @default 0.8 */
  hotShare?: number;
  /** Share of operations that are reads, in [0, 1]. @default 0.7 */
  readShare?: number;
}

export const DEFAULT_WORKLOAD_OPTIONS = {
  keys: 64,
  hotKeys: 4,
  hotShare: 0.8,
  readShare: 0.7,
} as const satisfies Required<Omit<WorkloadOptions, 'seed'>>;

export type WorkloadOp =
  | { kind: 'read'; key: bigint }
  /** `value` is unique per key: the caller's name and its own sequence number. */
  | { kind: 'write'; key: bigint; value: string };

export interface CallerStream {
  readonly caller: string;
  /** The next operation (a plain function: safe to pass around unbound). */
  readonly next: () => WorkloadOp;
}

export interface Workload {
  readonly options: Readonly<Required<WorkloadOptions>>;
  /** Every key, hot ones first. */
  readonly keys: readonly bigint[];
  readonly hotKeys: readonly bigint[];
  /** The operation stream of caller `index` (its name goes into every value it writes). */
  caller(index: number, name?: string): CallerStream;
}

/**
 * Ids at the edges of the signed 64-bit range (and -1, which routes as 2^64-1): a system that
 * squeezes ids through a double or a signed modulo gets these wrong first, so they are hot.
 */
export const EDGE_KEYS: readonly bigint[] = [MIN_LONG_ID, MAX_LONG_ID, -1n, 0n];

export function createWorkload(options: WorkloadOptions): Workload {
  const resolved = resolveOptions(options);
  const rng = createRng(resolved.seed);
  const keys = buildKeys(rng, resolved.keys, resolved.hotKeys);
  const hotKeys = keys.slice(0, resolved.hotKeys);
  const coldKeys = keys.slice(resolved.hotKeys);

  return {
    options: resolved,
    keys,
    hotKeys,
    caller(index, name = `c${index}`) {
      if (!Number.isInteger(index) || index < 0) {
        throw new InvalidOptionsError(
          'index',
          `a caller's index must be a non-negative integer, got ${index}`,
        );
      }
      const own = createRng(deriveSeed(resolved.seed, index));
      let seq = 0;
      const pickKey = (): bigint => {
        const hot =
          coldKeys.length === 0 || (hotKeys.length > 0 && own.float() < resolved.hotShare);
        const from = hot ? hotKeys : coldKeys;
        return from[own.int(from.length)] as bigint;
      };
      return {
        caller: name,
        next: () => {
          const key = pickKey();
          if (own.float() < resolved.readShare) return { kind: 'read', key };
          seq += 1;
          return { kind: 'write', key, value: `${name}:${seq}` };
        },
      };
    },
  };
}

function resolveOptions(options: WorkloadOptions): Required<WorkloadOptions> {
  const resolved = { ...DEFAULT_WORKLOAD_OPTIONS, ...stripUndefined(options), seed: options.seed };
  const { seed, keys, hotKeys, hotShare, readShare } = resolved;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw new InvalidOptionsError('seed', `must be an integer in [0, 2^32-1], got ${seed}`);
  }
  if (!Number.isInteger(keys) || keys < 1 || keys > 1_000_000) {
    throw new InvalidOptionsError('keys', `must be an integer in [1, 1000000], got ${keys}`);
  }
  if (!Number.isInteger(hotKeys) || hotKeys < 0 || hotKeys > keys) {
    throw new InvalidOptionsError(
      'hotKeys',
      `must be an integer in [0, keys=${keys}], got ${hotKeys}`,
    );
  }
  for (const [name, share] of [
    ['hotShare', hotShare],
    ['readShare', readShare],
  ] as const) {
    if (!(share >= 0 && share <= 1)) {
      throw new InvalidOptionsError(name, `must be in [0, 1], got ${share}`);
    }
  }
  return resolved;
}

function buildKeys(rng: Rng, count: number, hotCount: number): bigint[] {
  const seen = new Set<bigint>();
  const keys: bigint[] = [];
  const add = (key: bigint): void => {
    if (keys.length < count && !seen.has(key)) {
      seen.add(key);
      keys.push(key);
    }
  };
  // Hot keys: the edge ids first, then random ones.
  for (const key of EDGE_KEYS.slice(0, hotCount)) add(key);
  while (keys.length < hotCount) add(rng.int64());
  // Cold keys: small ids (what real tables hold) mixed with full-range ones of both signs.
  while (keys.length < count) add(rng.float() < 0.5 ? BigInt(rng.int(1_000_000)) : rng.int64());
  return keys;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
