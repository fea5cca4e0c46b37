import { InvalidKeyError } from '@keylane/protocol';
import { InvalidOptionsError, NoHealthyInstanceError } from '../core/errors.js';
import { ConsistentRing } from './consistent-ring.js';
import { highWord, lowWord } from './key-hash.js';

export type RoutingStrategy = 'modulo' | 'consistent';

/**
 * A routing decision prepared for one set of ids. Building it sorts the ids and (for
 * `consistent`) builds the ring; `indexOf` is then allocation-light and O(1) or O(log n).
 */
export interface RouteTable {
  readonly strategy: RoutingStrategy;
  /** The ids in routing order: sorted by UTF-16 code units, the same in every process. */
  readonly ids: readonly string[];
  /** Index into `ids` of the owner of a routing key (a uint64, see `routingKey`). */
  indexOf(key: bigint): number;
  /** The same for a key given as a safe-integer long id (signed), without BigInt arithmetic. */
  indexOfSafeInteger(id: number): number;
}

/** Pure routing, no I/O: the rule every caller applies to the same healthy set. */
export interface Router {
  readonly strategy: RoutingStrategy;
  /**
   * The id in `ids` that owns `key`. `key` is a routing key (`routingKey(id)`, in
   * [0, 2^64)); the order of `ids` does not matter. Throws `NoHealthyInstanceError` on an
   * empty list.
   */
  pick(key: bigint, ids: readonly string[]): string;
}

const UINT64_MAX = 2n ** 64n - 1n;

/** Sorts and checks the ids and prepares the lookup for them. */
export function buildRouteTable(strategy: RoutingStrategy, ids: readonly string[]): RouteTable {
  if (ids.length === 0) throw new NoHealthyInstanceError();
  // Plain code-unit comparison: localeCompare would depend on each process's ICU and locale.
  const sorted = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) {
      throw new InvalidOptionsError('ids', `duplicate instance id ${JSON.stringify(sorted[i])}`);
    }
  }
  Object.freeze(sorted);
  if (strategy === 'modulo') {
    const n = sorted.length;
    const count = BigInt(n);
    // (hi * 2^32 + lo) mod n from the words; every product stays far below 2^53.
    const wordWeight = 2 ** 32 % n;
    return {
      strategy,
      ids: sorted,
      indexOf: (key) => Number(key % count),
      indexOfSafeInteger: (id) =>
        id >= 0 ? id % n : (((highWord(id) % n) * wordWeight) % n + (lowWord(id) % n)) % n,
    };
  }
  const ring = new ConsistentRing(sorted);
  return {
    strategy,
    ids: sorted,
    indexOf: (key) => ring.locate(key),
    indexOfSafeInteger: (id) => ring.locateSafeInteger(id),
  };
}

/** Throws unless `key` is a routing key: a bigint in [0, 2^64). */
export function assertRoutingKey(key: unknown): asserts key is bigint {
  if (typeof key !== 'bigint' || key < 0n || key > UINT64_MAX) {
    throw new InvalidKeyError(key, 'a routing key is a bigint in [0, 2^64); pass routingKey(parseLongId(id))');
  }
}

/**
 * A router for one strategy. `pick` remembers the table of the last id list it saw, so
 * calling it again with an equal list costs a comparison, not a sort (and a ring build).
 */
export function createRouter(strategy: RoutingStrategy = 'modulo'): Router {
  if (strategy !== 'modulo' && strategy !== 'consistent') {
    throw new InvalidOptionsError('routing', `expected 'modulo' or 'consistent', got ${String(strategy)}`);
  }
  let lastIds: readonly string[] = [];
  let table: RouteTable | undefined;
  return Object.freeze({
    strategy,
    pick(key: bigint, ids: readonly string[]): string {
      assertRoutingKey(key);
      if (table === undefined || !sameList(ids, lastIds)) {
        table = buildRouteTable(strategy, ids);
        lastIds = [...ids];
      }
      return table.ids[table.indexOf(key)]!;
    },
  });
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
