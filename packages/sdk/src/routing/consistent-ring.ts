import { createHash } from 'node:crypto';
import { hashRoutingKey, hashWords, highWord, lowWord } from './key-hash.js';

/** Control points each instance gets on the ring; every caller must use the same number. */
export const RING_POINTS_PER_INSTANCE = 160;

// Control points are a pure function of the id; 160 sha1s per instance on every health
// transition would dominate a rebuild at 128 instances, so they are remembered.
const pointsCache = new Map<string, Uint32Array>();
const POINTS_CACHE_LIMIT = 4096;

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
    const total = sortedIds.length * RING_POINTS_PER_INSTANCE;
    const points = new Uint32Array(total);
    const owners = new Uint32Array(total);
    sortedIds.forEach((id, owner) => {
      points.set(controlPoints(id), owner * RING_POINTS_PER_INSTANCE);
      owners.fill(owner, owner * RING_POINTS_PER_INSTANCE, (owner + 1) * RING_POINTS_PER_INSTANCE);
    });
    // Sort by point; on a collision (rare) the smaller id wins, a rule that does not depend
    // on which other instances are present, so a collision never moves anyone else's keys.
    const order = Array.from({ length: total }, (_, i) => i).sort(
      (a, b) => points[a]! - points[b]! || owners[a]! - owners[b]!,
    );
    const uniquePoints: number[] = [];
    const uniqueOwners: number[] = [];
    for (const i of order) {
      if (uniquePoints.length > 0 && uniquePoints[uniquePoints.length - 1] === points[i]) continue;
      uniquePoints.push(points[i]!);
      uniqueOwners.push(owners[i]!);
    }
    this.#points = Uint32Array.from(uniquePoints);
    this.#owners = Uint32Array.from(uniqueOwners);
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
