import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, KeylaneError, type ClientOptions, type KeylaneClient } from '@keylane/sdk';
import { runCaller, type CallerSummary } from './caller.js';
import {
  CallerConfigError,
  loadCallerConfig,
  type CallerConfig,
  type CallerEnvironment,
} from './config.js';
import { jsonLineLog, type Log } from './log.js';

/** sysexits.h EX_CONFIG, as the item service uses: restarting will not help. */
export const EXIT_BAD_CONFIG = 78;

/** The SDK options this caller uses for a configuration. */
export function clientOptionsFor(config: CallerConfig): ClientOptions {
  const { discovery } = config;
  return {
    instances:
      discovery.kind === 'static'
        ? discovery.instances
        : { dns: discovery.name, port: discovery.port, refreshMs: discovery.refreshMs },
    requestTimeoutMs: config.requestTimeoutMs,
  };
}

/**
 * The whole program: configure, wait for the fleet, run rounds until SIGTERM/SIGINT, close the
 * client. Resolves with the process exit code.
 */
export async function main(
  env: CallerEnvironment = process.env,
  log: Log = jsonLineLog(),
): Promise<number> {
  let config: CallerConfig;
  try {
    config = loadCallerConfig(env);
  } catch (err) {
    if (err instanceof CallerConfigError) {
      process.stderr.write(`keylane-example-caller: ${err.message}\n`);
      return EXIT_BAD_CONFIG;
    }
    throw err;
  }

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    log('info', 'stopping', { signal });
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  const client = createClient(clientOptionsFor(config));
  client.on('instance-up', (instance) => log('info', 'instance up', { instance }));
  client.on('instance-down', (instance, reason) =>
    log('warn', 'instance down', { instance, reason }),
  );
  // DNS discovery only: membership changes, and failed lookups (the last good set stays).
  client.on('instances-changed', ({ added, removed, instances }) =>
    log('info', 'instances changed', { added, removed, instances }),
  );
  client.on('discovery-error', (error) =>
    log('warn', 'discovery failed', { code: error.code, error: error.message }),
  );
  let summary: CallerSummary | undefined;
  try {
    log('info', 'starting', {
      discovery: config.discovery,
      keys: config.keys,
      intervalMs: config.intervalMs,
    });
    if (await waitReady(client, log, stop.signal)) {
      log('info', 'ready', { healthy: client.healthyInstances() });
      summary = await runCaller(client, config, log, stop.signal);
    }
  } finally {
    // In flight requests finish before the pools close.
    await client.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  log('info', 'stopped', { ...summary });
  return 0;
}

// Under compose the fleet may still be starting (or restarting): keep waiting, visibly.
async function waitReady(client: KeylaneClient, log: Log, signal: AbortSignal): Promise<boolean> {
  const aborted = new Promise<false>((resolve) =>
    signal.addEventListener('abort', () => resolve(false), { once: true }),
  );
  while (!signal.aborted) {
    try {
      // A SIGTERM must not wait out readyTimeoutMs.
      if (!(await Promise.race([client.ready().then(() => true as const), aborted]))) return false;
      return true;
    } catch (err) {
      // Retryable: no instance healthy yet, or (DNS discovery) no good answer yet.
      if (
        !(err instanceof KeylaneError) ||
        (err.code !== 'no_healthy_instance' && err.code !== 'discovery_failed')
      ) {
        throw err;
      }
      log('warn', 'fleet not ready yet', { error: err.message });
      await sleep(1000, undefined, { signal }).catch(() => undefined);
    }
  }
  return false;
}
