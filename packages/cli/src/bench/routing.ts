import type { RoutingStrategy } from '@keylane/sdk';
import { measureRouting as timeRouting } from './measure-routing.js';

export const ROUTING_SIZES = [3, 16, 128] as const;
export const ROUTING_STRATEGIES: readonly RoutingStrategy[] = ['modulo', 'consistent'];

export interface RoutingMeasurement {
  instances: number;
  strategy: RoutingStrategy;
  /** Wall-clock ns per getServiceConnection (median of the samples). */
  wallNs: number;
  /** This process's CPU ns per call: what preemption by other jobs does not inflate. */
  cpuNs: number;
}

/**
 * ns per `getServiceConnection` with bigint keys: the SDK's own routing benchmark loop
 * (measure-routing.ts, also behind `pnpm run bench:routing`), run against the SDK's
 * built output, `samples` timed runs of `calls` calls each.
 */
export async function measureRouting(
  calls: number,
  samples: number,
): Promise<RoutingMeasurement[]> {
  const timings = await timeRouting({
    sizes: ROUTING_SIZES,
    strategies: ROUTING_STRATEGIES,
    keyTypes: ['bigint'],
    calls,
    samples,
  });
  return timings.map(({ instances, strategy, wallNs, cpuNs }) => ({
    instances,
    strategy,
    wallNs,
    cpuNs,
  }));
}
