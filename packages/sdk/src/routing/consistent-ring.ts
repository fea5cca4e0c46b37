import { createHash } from 'node:crypto';
import ConsistentHash from 'consistent-hash';
import { hashRoutingKey } from './key-hash.js';

/** Control points each instance gets on the ring; every caller must use the same number. */
export const RING_POINTS_PER_INSTANCE = 160;

// consistent-hash maps a lookup to (pjw24(name) << 5) % range, which never exceeds 2^29,
// so the ring must span exactly [0, 2^29) for every control point to be reachable.
const RING_RANGE = 2 ** 29;

// Control points are a pure function of the id; computing 160 sha1s per instance on every
// health transition would dominate a rebuild at 128 instances, so they are remembered.
const pointsCache = new Map<string, readonly number[]>();
const POINTS_CACHE_LIMIT = 4096;

/**
 * The control points of one instance: the top 29 bits of sha1(id, replica). Never random
 * (consistent-hash's own default), so two processes with the same ids build the same ring.
 */
export function controlPoints(id: string): readonly number[] {
  let points = pointsCache.get(id);
  if (points !== undefined) return points;
  const out = new Array<number>(RING_POINTS_PER_INSTANCE);
  for (let replica = 0; replica < RING_POINTS_PER_INSTANCE; replica++) {
    out[replica] = createHash('sha1').update(`${id}\u0000${replica}`).digest().readUInt32BE(0) >>> 3;
  }
  points = Object.freeze(out);
  if (pointsCache.size >= POINTS_CACHE_LIMIT) pointsCache.clear();
  pointsCache.set(id, points);
  return points;
}

/**
 * A ring over a sorted list of ids; `locate` returns an index into that list. Nodes are
 * added in the list's order, so when two control points collide (possible, rare) the same
 * instance wins in every process.
 */
export class ConsistentRing {
  readonly #ring = new ConsistentHash<number>({ range: RING_RANGE });

  constructor(sortedIds: readonly string[]) {
    sortedIds.forEach((id, index) => this.#ring.add(index, RING_POINTS_PER_INSTANCE, controlPoints(id)));
  }

  locate(key: bigint): number {
    // consistent-hash looks up string names only; the decimal of a mixed 32-bit hash keeps it short.
    return this.#ring.get(String(hashRoutingKey(key))) ?? 0;
  }
}
