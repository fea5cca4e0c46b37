import type { LabEngineOptions } from '@keylane/engine/baselines';
import { Cluster } from 'ioredis';

/** One startup node of a Redis Cluster (`new Cluster([...])`). */
export interface RedisClusterNode {
  host: string;
  port: number;
}

/**
 * The engine's `redis` options for a run's processes: `redisUrl`'s server, or an ioredis
 * `Cluster` on the nodes (fail-fast like the url form: no offline queue, a command timeout).
 * A Cluster is the caller's to close; the engine closes neither.
 */
export function redisFor(
  redisUrl: string,
  keyPrefix: string,
  cluster: readonly RedisClusterNode[] | undefined,
): { redis: LabEngineOptions['redis']; close: () => Promise<void> } {
  if (cluster === undefined) return { redis: { url: redisUrl, keyPrefix }, close: async () => {} };
  const client = new Cluster([...cluster], {
    lazyConnect: true,
    enableOfflineQueue: false,
    redisOptions: { commandTimeout: 2_000 },
  });
  return {
    redis: { client, keyPrefix },
    close: () =>
      client.quit().then(
        () => undefined,
        () => client.disconnect(),
      ),
  };
}
