import { Pool } from 'undici';
import { itemPath } from '@keylane/protocol';
import type { FleetInstance } from '../fleet/index.js';
import { scrapeCounters } from './metrics.js';

export interface SingleFlightResult {
  /** Invalidations per instance. */
  rounds: number;
  /** Concurrent reads sent to one instance after each invalidation. */
  burst: number;
  /** DB reads per invalidation, averaged over every instance's rounds. */
  meanDbReadsPerInvalidation: number;
  /** The worst instance's mean: the figure the target bounds. */
  maxDbReadsPerInvalidation: number;
  /** Mean DB reads per invalidation of each instance, in instance order. */
  perInstance: number[];
  /** Reads or invalidations that failed (their rounds still count their DB reads). */
  errors: number;
}

export interface SingleFlightOptions {
  instances: readonly FleetInstance[];
  key: bigint;
  rounds: number;
  burst: number;
  /** Invalidates the key (a write through the SDK, routed to its owner). */
  invalidate: (round: number) => Promise<unknown>;
}

/**
 * For each instance in turn: invalidate the hot key, then send `burst` concurrent reads of
 * it straight to that instance, and count the DB reads its engine made in between. Each
 * instance is measured alone, so the figure is per instance and no fill by another instance
 * can hide a missing single-flight.
 */
export async function measureSingleFlight(
  options: SingleFlightOptions,
): Promise<SingleFlightResult> {
  const path = itemPath(options.key);
  const perInstance: number[] = [];
  let round = 0;
  let errors = 0;
  const counted = (p: Promise<unknown>): Promise<unknown> =>
    p.catch(() => {
      errors += 1;
    });
  for (const instance of options.instances) {
    const pool = new Pool(instance.url, { connections: options.burst });
    let dbReads = 0;
    try {
      for (let r = 0; r < options.rounds; r++) {
        await counted(options.invalidate(round++));
        const before = await scrapeCounters(instance.url);
        await Promise.all(
          Array.from({ length: options.burst }, () =>
            counted(
              (async () => {
                const res = await pool.request({ method: 'GET', path });
                await res.body.text();
                if (res.statusCode !== 200)
                  throw new Error(`GET ${path} on ${instance.id} answered ${res.statusCode}`);
              })(),
            ),
          ),
        );
        const after = await scrapeCounters(instance.url);
        dbReads += after.dbReads - before.dbReads;
      }
    } finally {
      await pool.close();
    }
    perInstance.push(dbReads / options.rounds);
  }
  const mean = perInstance.reduce((a, b) => a + b, 0) / perInstance.length;
  return {
    rounds: options.rounds,
    burst: options.burst,
    meanDbReadsPerInvalidation: mean,
    maxDbReadsPerInvalidation: Math.max(...perInstance),
    perInstance,
    errors,
  };
}
