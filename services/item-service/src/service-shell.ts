import type { Engine } from '@keylane/engine';
import { REQUEST_ID_HEADER, REQUEST_ID_PATTERN } from '@keylane/protocol';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { registerBodyBounds } from './body-bounds.js';
import { MAX_HEADER_BYTES } from './client-error.js';
import type { ServiceConfig } from './config.js';
import { errorHandlerOptions, MAX_PARAM_LENGTH, registerErrorHandling } from './error-handling.js';
import { HealthMonitor } from './health-monitor.js';
import { createLifecycle, type ServiceLifecycle } from './lifecycle.js';
import { createMetrics, type EngineStats, type ServiceMetrics } from './metrics.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerMetricsRoute } from './routes/metrics.js';

/**
 * One instance of a service built on the engine: the HTTP shell (error registry, body bounds,
 * health, metrics, drain) around the routes a service registers. The item service is one;
 * `@keylane/cart-service` is another.
 */
export interface EngineService extends ServiceLifecycle {
  /** The Fastify app; `app.inject()` works without listening. */
  readonly app: FastifyInstance;
  readonly engine: Engine;
  readonly config: ServiceConfig;
  readonly metrics: ServiceMetrics;
  readonly logger: Logger;
}

/** What {@link createServiceShell} wraps: an engine, the service's routes and its counters. */
export interface ServiceShellOptions {
  config: ServiceConfig;
  engine: Engine;
  /** Close the engine after the last request (it was made for this service). */
  ownsEngine: boolean;
  logger: Logger;
  /** @default true */
  processMetrics?: boolean;
  /** Read at scrape time: the engine's counters plus the service's write counters. */
  stats: () => EngineStats;
  /** Requests under this path whose URL the router cannot decode name a bad key: `invalid_id`. */
  keyedPath: string;
  /** Registers the service's own routes on the app, before health and metrics. */
  registerRoutes(app: FastifyInstance): void;
}

// Readiness answers from the monitor's state; this is how fresh that state is.
const HEALTH_INTERVAL_MS = 250;

/** The HTTP shell every engine service shares, around `options.registerRoutes`. Does not listen. */
export function createServiceShell(options: ServiceShellOptions): EngineService {
  const { config, engine, ownsEngine, logger, processMetrics = true } = options;
  let requestCounter = 0;
  const startedAt = Date.now();
  const metrics = createMetrics({
    instanceId: config.instanceId,
    strategy: engine.strategy,
    stats: options.stats,
    processMetrics,
    engineId: engine.id,
  });

  // Typed as Fastify's logger so the app is a plain FastifyInstance for the route modules.
  const loggerInstance: FastifyBaseLogger = logger;
  const app: FastifyInstance = Fastify({
    loggerInstance,
    // One line per refused request at info, none per served one: metrics count those.
    logController: new LogController({ disableRequestLogging: true }),
    // The caller's x-request-id (the SDK sends one on every request), so its log lines and
    // ours join; one that is not a plain token (spaces, control bytes, too long) is replaced
    // rather than logged as sent.
    requestIdHeader: false,
    genReqId: (req) => {
      const sent = req.headers[REQUEST_ID_HEADER];
      if (typeof sent === 'string' && REQUEST_ID_PATTERN.test(sent)) return sent;
      return `${config.instanceId}-${(++requestCounter).toString(36)}`;
    },
    bodyLimit: config.maxBodyBytes,
    // Time to receive a whole request (not to answer it): a client trickling a body cannot
    // hold a socket for ever. Fastify's default of 0 would turn Node's limit off.
    requestTimeout: 30_000,
    http: { maxHeaderSize: MAX_HEADER_BYTES },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Keep-alive sockets must not hold the listener open: idle ones are closed when it
    // closes (Node's server.close() does so too, which matters because the lifecycle binds
    // the server itself), busy ones get Connection: close on their last answer.
    forceCloseConnections: 'idle',
    // Requests that arrive while closing are still served (their lane jobs finish): a
    // 503 here would turn acknowledged-looking work into errors for no gain.
    return503OnClosing: false,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    ...errorHandlerOptions({ keyedPath: options.keyedPath, metrics, logger }),
  });

  // Only JSON bodies are parsed: Fastify's text/plain parser would hand the schema a string.
  app.removeContentTypeParser('text/plain');

  // First of the onRequest hooks, so that an answer refused by any later one carries it too.
  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
  registerBodyBounds(app, config);
  registerErrorHandling(app, { metrics });

  options.registerRoutes(app);
  const monitor = new HealthMonitor({ engine, logger, intervalMs: HEALTH_INTERVAL_MS });
  const lifecycle = createLifecycle({ app, config, strategy: engine.strategy, monitor, metrics, logger });
  registerHealthRoutes(app, {
    engine,
    monitor,
    instanceId: config.instanceId,
    startedAt,
    isDraining: () => lifecycle.isDraining(),
    readyGraceMs: config.readyGraceMs,
  });
  registerMetricsRoute(app, metrics);

  if (ownsEngine) {
    // onClose runs after the listener closed and every in-flight request answered; what
    // is left in the lanes is drained by engine.close().
    app.addHook('onClose', async () => {
      await engine.close();
    });
  }

  return {
    app,
    engine,
    config,
    metrics,
    logger,
    get state() {
      return lifecycle.state;
    },
    listen: () => lifecycle.listen(),
    shutdown: (reason) => lifecycle.shutdown(reason),
    close: () => lifecycle.close(),
  };
}
