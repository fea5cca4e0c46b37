import type { EngineOptions } from '@keylane/engine';
import type { LabEngineOptions } from '@keylane/engine/baselines';
import type { ServiceConfig } from './config.js';

/**
 * The engine's options as the service's config spells them. Production options unless the
 * config asks for a baseline strategy or chaos (both refused by loadConfig unless allowed):
 * then the lab options `@keylane/engine/baselines` takes.
 */
export function engineOptionsFrom(config: ServiceConfig): { lab: false; options: EngineOptions } | { lab: true; options: LabEngineOptions } {
  const options: EngineOptions = {
    postgres: {
      connectionString: config.databaseUrl,
      statementTimeoutMs: config.statementTimeoutMs,
      ...(config.databaseReplicaUrls.length === 0
        ? {}
        : { replicas: config.databaseReplicaUrls.map((connectionString) => ({ connectionString })) }),
    },
    redis: { url: config.redisUrl, keyPrefix: config.cachePrefix },
    lanes: config.lanes,
    cacheTtlMs: config.cacheTtlMs,
    leaseTtlMs: config.leaseTtlMs,
    markerTtlMs: config.markerTtlMs,
    maxQueuePerLane: config.maxQueuePerLane,
    maxQueueWaitMs: config.maxQueueWaitMs,
  };
  const chaos = config.allowChaos && (config.chaosFillDelayMs > 0 || config.chaosWriteDelayMs > 0);
  if (config.strategy === 'serial-guarded' && !chaos) return { lab: false, options };
  const lab: LabEngineOptions = {
    ...options,
    strategy: config.strategy,
    doubleDeleteDelayMs: config.doubleDeleteDelayMs,
    lockTtlMs: config.lockTtlMs,
  };
  if (chaos) lab.chaos = { fillDelayMs: config.chaosFillDelayMs, writeDelayMs: config.chaosWriteDelayMs };
  return { lab: true, options: lab };
}
