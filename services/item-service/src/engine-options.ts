import type { EngineOptions } from '@keylane/engine';
import type { ServiceConfig } from './config.js';

/** The engine's options as the service's config spells them; chaos only when allowed and set. */
export function engineOptionsFrom(config: ServiceConfig): EngineOptions {
  const options: EngineOptions = {
    postgres: {
      connectionString: config.databaseUrl,
      schema: config.dbSchema,
      statementTimeoutMs: config.statementTimeoutMs,
    },
    redis: { url: config.redisUrl, keyPrefix: config.cachePrefix },
    lanes: config.lanes,
    strategy: config.strategy,
    cacheTtlMs: config.cacheTtlMs,
    leaseTtlMs: config.leaseTtlMs,
    markerTtlMs: config.markerTtlMs,
    maxQueuePerLane: config.maxQueuePerLane,
    doubleDeleteDelayMs: config.doubleDeleteDelayMs,
    lockTtlMs: config.lockTtlMs,
  };
  if (config.allowChaos && (config.chaosFillDelayMs > 0 || config.chaosWriteDelayMs > 0)) {
    options.chaos = {
      fillDelayMs: config.chaosFillDelayMs,
      writeDelayMs: config.chaosWriteDelayMs,
    };
  }
  return options;
}
