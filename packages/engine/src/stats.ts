import type { EntityStats } from './types.js';

/** One entity's monotonic counters; the engine's stats() adds every entity's up. */
export type Counters = EntityStats;

export function newCounters(): Counters {
  return {
    reads: 0,
    hits: 0,
    misses: 0,
    coalesced: 0,
    dbReads: 0,
    fills: 0,
    fillsRejected: 0,
    fillsHeld: 0,
    writeFills: 0,
    leases: { granted: 0, writeInProgress: 0, busy: 0 },
    mutations: 0,
    invalidations: 0,
    writesExpired: 0,
    deadlinesExceeded: 0,
    writesUnknown: 0,
    overloaded: 0,
    dbErrors: 0,
    groupedMutations: 0,
    replicaReads: { served: 0, lagging: 0, unsettled: 0, noFloor: 0, unavailable: 0, notStandby: 0 },
  };
}

/** A snapshot copy (counters keep moving; callers must not see them change under them). */
export function snapshot(c: Counters): EntityStats {
  return { ...c, leases: { ...c.leases }, replicaReads: { ...c.replicaReads } };
}

/** Field by field sum of several entities' counters (one level of nesting: leases, replicaReads). */
export function sum(all: Iterable<Counters>): EntityStats {
  const total = newCounters();
  for (const c of all) {
    for (const key of Object.keys(total) as (keyof EntityStats)[]) {
      const into = total[key];
      const from = c[key];
      if (typeof into === 'number') (total[key] as number) = into + (from as number);
      else addInto(into as unknown as Record<string, number>, from as unknown as Record<string, number>);
    }
  }
  return total;
}

function addInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const field of Object.keys(into)) into[field] = (into[field] ?? 0) + (from[field] ?? 0);
}
