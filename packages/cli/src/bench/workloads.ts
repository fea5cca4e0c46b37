import { createRng, createWorkload, deriveSeed, type WorkloadOp } from '../workload/index.js';
import { createZipf, type ZipfSampler } from './zipf.js';

export const WORKLOAD_NAMES = ['read-heavy', 'balanced', 'hot-key'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export const WORKLOAD_LABELS: Readonly<Record<WorkloadName, string>> = {
  'read-heavy': 'read-heavy Zipfian 95/5',
  balanced: 'balanced Zipfian 50/50',
  'hot-key': 'single hot key 50/50',
};

/** The shape of the bench's key space; the same for every strategy and every run. */
export interface KeySpaceOptions {
  seed: number;
  /** Distinct keys, all present in the table before a phase starts. */
  keys: number;
  /** Zipf exponent of the key popularity (1.0: the classic Zipf law). */
  zipfExponent: number;
}

export const DEFAULT_KEY_SPACE = { keys: 10_000, zipfExponent: 1.0 } as const;

/** Operation streams of one workload: caller i always gets the same sequence for a seed. */
export interface BenchWorkload {
  readonly name: WorkloadName;
  readonly readShare: number;
  /** Every key the workload may touch (what must be seeded in the table). */
  readonly keys: readonly bigint[];
  caller(index: number): () => WorkloadOp;
}

/**
 * The three workloads from one seeded generator. Keys and the hot-key streams come from
 * src/workload's `createWorkload` (so the hottest keys are the edge ids it puts first); the
 * Zipfian streams draw ranks over those same keys with its PRNG, one derived stream per
 * caller, because that generator models "hot set vs the rest", not a Zipf law.
 */
export function createBenchWorkloads(
  options: KeySpaceOptions,
): Record<WorkloadName, BenchWorkload> {
  const space = createWorkload({
    seed: options.seed,
    keys: options.keys,
    hotKeys: 4,
    hotShare: 1,
    readShare: 1,
  });
  const zipf = createZipf(space.keys.length, options.zipfExponent);
  const hot = createWorkload({
    seed: options.seed,
    keys: 1,
    hotKeys: 1,
    hotShare: 1,
    readShare: 0.5,
  });
  return {
    'read-heavy': zipfWorkload('read-heavy', space.keys, zipf, options.seed, 0.95),
    balanced: zipfWorkload('balanced', space.keys, zipf, options.seed, 0.5),
    'hot-key': {
      name: 'hot-key',
      readShare: 0.5,
      keys: hot.keys,
      caller: (index) => hot.caller(index, `bench${index}`).next,
    },
  };
}

function zipfWorkload(
  name: WorkloadName,
  keys: readonly bigint[],
  zipf: ZipfSampler,
  seed: number,
  readShare: number,
): BenchWorkload {
  // A different salt per workload: read-heavy and balanced must not replay the same draws.
  const salt = name === 'read-heavy' ? 1_000 : 2_000;
  return {
    name,
    readShare,
    keys,
    caller: (index) => zipfCaller(keys, zipf, seed, salt, readShare, index),
  };
}

/**
 * One caller's stream of a Zipfian workload: keys drawn from `zipf` over `keys`, a read with
 * probability `readShare`, otherwise a write of a value unique to the caller. `salt` keeps two
 * workloads of one seed from replaying each other's draws.
 */
export function zipfCaller(
  keys: readonly bigint[],
  zipf: ZipfSampler,
  seed: number,
  salt: number,
  readShare: number,
  index: number,
): () => WorkloadOp {
  const rng = createRng(deriveSeed(seed, salt + index));
  let seq = 0;
  return () => {
    const key = keys[zipf.sample(rng)]!;
    if (rng.float() < readShare) return { kind: 'read', key };
    seq += 1;
    return { kind: 'write', key, value: `bench${index}:${seq}` };
  };
}
