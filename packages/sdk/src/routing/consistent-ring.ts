import { createHash } from 'node:crypto';
import { hashRoutingKey, hashWords, highWord, lowWord } from './key-hash.js';

/** Control points each instance gets on the ring; every caller must use the same number. */
export const RING_POINTS_PER_INSTANCE = 160;

// Control points are a pure function of the id; 160 sha1s per instance on every health
// transition would dominate a rebuild at 128 instances, so they are remembered.
const pointsCache = new Map<string, Uint32Array>();
const POINTS_CACHE_LIMIT = 4096;
// Owner indexes take the low 20 bits of a packed entry: 2^32 * 2^20 = 2^52 stays exact.
const OWNER_SPAN = 2 ** 20;

/**
 * The control points of one instance on the uint32 ring: the first 32 bits of
 * sha1(id NUL replica). Never random, so two processes with the same ids build the same ring.
 */
export function controlPoints(id: string): Uint32Array {
  let points = pointsCache.get(id);
  if (points !== undefined) return points;
  points = new Uint32Array(RING_POINTS_PER_INSTANCE);
  for (let replica = 0; replica < RING_POINTS_PER_INSTANCE; replica++) {
    points[replica] = createHash('sha1').update(`${id}\u0000${replica}`).digest().readUInt32BE(0);
  }
  if (pointsCache.size >= POINTS_CACHE_LIMIT) pointsCache.clear();
  pointsCache.set(id, points);
  return points;
}

/**
 * A consistent-hash ring over a sorted list of ids; `locate` returns an index into that
 * list. A key belongs to the first control point at or after its hash, wrapping at 2^32.
 *
 * Written here rather than taken from the `consistent-hash` package: that package looks
 * keys up by string only, through its own 24-bit PJW hash, so every lookup would format
 * the 64-bit key as a string and search a dictionary-mode object (about 3x the cost of
 * this binary search over typed arrays; see README, "Routing").
 */
export class ConsistentRing {
  readonly #points: Uint32Array;
  readonly #owners: Uint32Array;

  constructor(sortedIds: readonly string[]) {
    if (sortedIds.length > OWNER_SPAN) throw new RangeError(`a ring holds at most ${OWNER_SPAN} instances`);
    // Each entry packs (point, owner) into one exactly representable double, so a plain
    // numeric typed-array sort orders by point, then owner: ~20k entries at 128 instances
    // sort in a few milliseconds on each health transition.
    const packed = new Float64Array(sortedIds.length * RING_POINTS_PER_INSTANCE);
    sortedIds.forEach((id, owner) => {
      const points = controlPoints(id);
      for (let replica = 0; replica < RING_POINTS_PER_INSTANCE; replica++) {
        packed[owner * RING_POINTS_PER_INSTANCE + replica] = points[replica]! * OWNER_SPAN + owner;
      }
    });
    packed.sort();
    // On a collision (rare) the smaller id wins: a rule that does not depend on which other
    // instances are present, so a collision never moves anyone else's keys.
    const points: number[] = [];
    const owners: number[] = [];
    for (const entry of packed) {
      const point = Math.floor(entry / OWNER_SPAN);
      if (points.length > 0 && points[points.length - 1] === point) continue;
      points.push(point);
      owners.push(entry - point * OWNER_SPAN);
    }
    this.#points = Uint32Array.from(points);
    this.#owners = Uint32Array.from(owners);
  }

  /** Index (into the sorted ids) of the owner of a routing key. */
  locate(key: bigint): number {
    return this.#find(hashRoutingKey(key));
  }

  /** `locate` for a key given as a safe integer, with no BigInt arithmetic. */
  locateSafeInteger(id: number): number {
    return this.#find(hashWords(highWord(id), lowWord(id)));
  }

  #find(hash: number): number {
    const points = this.#points;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === points.length ? 0 : lo]!;
  }
}
