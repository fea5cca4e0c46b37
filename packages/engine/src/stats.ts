import type { EngineStats } from './types.js';

/** The monotonic part of EngineStats; the engine adds strategy and lane snapshots. */
export type Counters = Omit<EngineStats, 'strategy' | 'lanes'>;

export function newCounters(): Counters {
  return {
    reads: 0,
    hits: 0,
    misses: 0,
    coalesced: 0,
    dbReads: 0,
    fills: 0,
    fillsRejected: 0,
    writeFills: 0,
    leases: { granted: 0, writeInProgress: 0, busy: 0 },
    writes: 0,
    deletes: 0,
    versionConflicts: 0,
    writesExpired: 0,
    writesUnknown: 0,
    overloaded: 0,
    redisErrors: 0,
    dbErrors: 0,
  };
}
