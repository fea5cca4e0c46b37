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
  };
}

/** A snapshot copy (counters keep moving; callers must not see them change under them). */
export function snapshot(c: Counters): EntityStats {
  return { ...c, leases: { ...c.leases } };
}

/** Field by field sum of several entities' counters. */
export function sum(all: Iterable<Counters>): EntityStats {
  const total = newCounters();
  for (const c of all) {
    for (const key of Object.keys(total) as (keyof EntityStats)[]) {
      if (key === 'leases') {
        total.leases.granted += c.leases.granted;
        total.leases.writeInProgress += c.leases.writeInProgress;
        total.leases.busy += c.leases.busy;
      } else {
        total[key] += c[key];
      }
    }
  }
  return total;
}
