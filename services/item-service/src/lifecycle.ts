import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ServiceConfig } from './config.js';
import type { HealthMonitor } from './health-monitor.js';
import type { ServiceMetrics } from './metrics.js';

/**
 * `created` -> `listening` -> `draining` (readiness 503, still serving) -> `closing`
 * (listener closed, in-flight and queued work finishing) -> `closed`.
 */
export type ServiceState = 'created' | 'listening' | 'draining' | 'closing' | 'closed';

export interface ShutdownOutcome {
  /** False when the grace period ran out and work was abandoned (never acknowledged work). */
  clean: boolean;
  durationMs: number;
}

/** How a service is started and stopped; the state changes only here. */
export interface ServiceLifecycle {
  readonly state: ServiceState;
  /** Binds `config.host:config.port`, logs one `listening` line, returns the URL. */
  listen(): Promise<string>;
  /**
   * The graceful sequence: readiness 503 at once, serve on for `drainMs`, close the
   * listener, let in-flight requests and queued lane jobs finish (at most
   * `shutdownGraceMs`), then close the engine if this server created it.
   */
  shutdown(reason?: string): Promise<ShutdownOutcome>;
  /** Immediate close without the drain period (tests); same order otherwise. */
  close(): Promise<void>;
}

export interface LifecycleOptions {
  app: FastifyInstance;
  config: Pick<ServiceConfig, 'host' | 'port' | 'lanes' | 'drainMs' | 'shutdownGraceMs'>;
  /** For the `listening` line. */
  strategy: string;
  monitor: HealthMonitor;
  metrics: ServiceMetrics;
  logger: Logger;
}

/** The lifecycle, plus what readiness needs to know of it. */
export interface Lifecycle extends ServiceLifecycle {
  /** From the first step of shutdown on: readiness answers 503 `draining`. */
  isDraining(): boolean;
}

export function createLifecycle({ app, config, strategy, monitor, metrics, logger }: LifecycleOptions): Lifecycle {
  let state: ServiceState = 'created';
  let shutdownPromise: Promise<ShutdownOutcome> | undefined;

  async function runShutdown(reason: string, drainMs: number): Promise<ShutdownOutcome> {
    const began = Date.now();
    state = 'draining';
    metrics.setDraining(true);
    logger.info({ reason, drainMs }, 'draining: readiness answers 503, still serving');
    if (drainMs > 0) await sleep(drainMs);

    state = 'closing';
    logger.info(
      { graceMs: config.shutdownGraceMs },
      'closing the listener; finishing in-flight requests and lane jobs',
    );
    const closed = app.close().then(
      () => true,
      (err: unknown) => {
        logger.error({ err }, 'error while closing');
        return false;
      },
    );
    let outcome = await within(closed, config.shutdownGraceMs);
    if (outcome === 'timeout') {
      // Abandoned requests never got an answer, so nothing acknowledged is lost; the lane
      // jobs they queued still run while engine.close() drains.
      logger.warn(
        { graceMs: config.shutdownGraceMs },
        'grace period over: dropping the remaining connections',
      );
      app.server.closeAllConnections();
      outcome = await within(closed, 1_000);
    }
    const clean = outcome === true;
    await monitor.stop();
    metrics.close();
    state = 'closed';
    const durationMs = Date.now() - began;
    logger.info({ durationMs, clean }, 'closed');
    return { clean, durationMs };
  }

  return {
    get state() {
      return state;
    },

    isDraining: () => state === 'draining' || state === 'closing' || state === 'closed',

    async listen() {
      if (state !== 'created') throw new Error(`cannot listen: the service is ${state}`);
      await app.ready();
      await monitor.start();
      // The Node server is bound directly, not through app.listen(): Fastify would log
      // one line per network interface, and the fleet launcher waits for exactly one.
      await new Promise<void>((resolve, reject) => {
        app.server.once('error', reject);
        app.server.listen({ port: config.port, host: config.host }, () => {
          app.server.off('error', reject);
          resolve();
        });
      });
      state = 'listening';
      const address = app.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      const url = `http://${host}:${address.port}`;
      logger.info({ url, strategy, lanes: config.lanes }, 'listening');
      return url;
    },

    shutdown(reason = 'shutdown requested') {
      shutdownPromise ??= runShutdown(reason, config.drainMs);
      return shutdownPromise;
    },

    async close() {
      shutdownPromise ??= runShutdown('close', 0);
      await shutdownPromise;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The promise's value, or `'timeout'` after `ms`; the timer never outlives the answer. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
