import type { AddressInfo } from 'node:net';
import { createEngine, type Engine } from '@keylane/engine';
import { assertItemsTable, createItems, ensureItemsTable, type Items, type ItemsStats } from '@keylane/engine/items';
import {
  HEALTH_READY_PATH,
  ITEMS_PATH,
  OverloadedError,
  REQUEST_ID_HEADER,
  REQUEST_ID_PATTERN,
  UnavailableError,
} from '@keylane/protocol';
import Fastify, {
  errorCodes,
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import { clientErrorReply, MAX_HEADER_BYTES, writeRawReply } from './client-error.js';
import type { ServiceConfig } from './config.js';
import { engineOptionsFrom } from './engine-options.js';
import { errorReply, logLevelOf, reply as codeReply, type ErrorReply } from './error-reply.js';
import { createLogger } from './logger.js';
import { createMetrics, type EngineStats, type ServiceMetrics } from './metrics.js';
import { HealthMonitor } from './health-monitor.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerItemRoutes } from './routes/items.js';
import { registerMetricsRoute } from './routes/metrics.js';
import { errorCodeOf, sendError } from './send-error.js';

/**
 * `created` -> `listening` -> `draining` (readiness 503, still serving) -> `closing`
 * (listener closed, in-flight and queued work finishing) -> `closed`.
 */
export type ServiceState = 'created' | 'listening' | 'draining' | 'closing' | 'closed';

export interface CreateServerOptions {
  /** Use this engine instead of creating one from the config. The caller keeps ownership: it is not closed. */
  engine?: Engine;
  /** @default JSON lines on stdout at `config.logLevel` */
  logger?: Logger;
  /** Export process metrics (CPU, memory, event loop). @default true */
  processMetrics?: boolean;
}

export interface ShutdownOutcome {
  /** False when the grace period ran out and work was abandoned (never acknowledged work). */
  clean: boolean;
  durationMs: number;
}

/**
 * One instance of a service built on the engine: the HTTP shell (error registry, body bounds,
 * health, metrics, drain) around the routes a service registers. The item service is one;
 * `@keylane/cart-service` is another.
 */
export interface EngineService {
  /** The Fastify app; `app.inject()` works without listening. */
  readonly app: FastifyInstance;
  readonly engine: Engine;
  readonly config: ServiceConfig;
  readonly metrics: ServiceMetrics;
  readonly logger: Logger;
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

export interface ItemService extends EngineService {
  /** The items entity the routes serve. */
  readonly items: Items;
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

// An id is at most 20 characters; anything past this is refused by the router itself
// (answered invalid_id), and longer paths elsewhere simply match no route.
const MAX_PARAM_LENGTH = 64;

/** How the tables are made or checked: a pg client config, on a connection of its own. */
export interface TablesConnection {
  connectionString: string;
  connectionTimeoutMillis: number;
}

/** What {@link createEntityService} needs to know of one service built on the shell. */
export interface EntityServiceSpec<E extends { stats(): ItemsStats }> {
  /** For the error when the tables are missing or cannot be created, e.g. `items table`. */
  tables: string;
  /** Creates the tables (KEYLANE_DB_MIGRATE) ... */
  ensureTables(postgres: TablesConnection, schema: string): Promise<void>;
  /** ... or checks they are there. */
  assertTables(postgres: TablesConnection, schema: string): Promise<void>;
  /** The service's entity on the engine, with its write counters (the /metrics names of the items'). */
  createEntity(engine: Engine, schema: string): E;
  /** The path under which every route takes a key (for errors answered before routing). */
  keyedPath: string;
  registerRoutes(app: FastifyInstance, entity: E, options: { clockSkewMs: number }): void;
}

/**
 * A service built on the engine, without listening: its tables made or checked, the engine
 * started (unless given), and the shell (error registry, body bounds, health, metrics, drain)
 * around its routes. The item service and the cart service are two of these.
 */
export async function createEntityService<E extends { stats(): ItemsStats }>(
  config: ServiceConfig,
  options: CreateServerOptions,
  spec: EntityServiceSpec<E>,
): Promise<EngineService & { readonly entity: E }> {
  const logger = options.logger ?? createLogger(config);
  const ownsEngine = options.engine === undefined;
  const postgres = { connectionString: config.databaseUrl, connectionTimeoutMillis: 5_000 };
  try {
    if (config.dbMigrate) await spec.ensureTables(postgres, config.dbSchema);
    else await spec.assertTables(postgres, config.dbSchema);
  } catch (err) {
    throw new UnavailableError(`${spec.tables}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const engine = options.engine ?? (await startEngine(config, logger));
  try {
    const entity = spec.createEntity(engine, config.dbSchema);
    const shell = createServiceShell({
      config,
      engine,
      ownsEngine,
      logger,
      processMetrics: options.processMetrics ?? true,
      stats: () => ({ ...engine.stats(), ...entity.stats() }),
      keyedPath: spec.keyedPath,
      registerRoutes: (app) => spec.registerRoutes(app, entity, { clockSkewMs: config.clockSkewMs }),
    });
    return Object.assign(shell, { entity });
  } catch (err) {
    if (ownsEngine) await engine.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Builds the item service without listening (the items entity's routes in the shell). Creates
 * an engine from `config` unless one is given.
 */
export async function createServer(
  config: ServiceConfig,
  options: CreateServerOptions = {},
): Promise<ItemService> {
  const service = await createEntityService(config, options, {
    tables: 'items table',
    ensureTables: ensureItemsTable,
    assertTables: assertItemsTable,
    createEntity: (engine, schema) => createItems(engine, { schema }),
    keyedPath: ITEMS_PATH,
    registerRoutes: registerItemRoutes,
  });
  return Object.assign(service, { items: service.entity });
}

/** The production engine, or the lab one when the config asks for a baseline or chaos (allowed by loadConfig). */
export async function startEngine(config: ServiceConfig, logger: Logger): Promise<Engine> {
  const built = engineOptionsFrom(config);
  // Losing and regaining Postgres goes to the service's log (warn / info).
  if (!built.lab) return createEngine({ ...built.options, logger });
  const baselines = await import('@keylane/engine/baselines');
  return baselines.createEngine({ ...built.options, logger });
}

/** The HTTP shell every engine service shares, around `options.registerRoutes`. Does not listen. */
export function createServiceShell(options: ServiceShellOptions): EngineService {
  const { config, engine, ownsEngine, logger, processMetrics = true } = options;
  let state: ServiceState = 'created';
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
    // closes (Node's server.close() does so too, which matters because listen() below binds
    // the server itself), busy ones get Connection: close on their last answer.
    forceCloseConnections: 'idle',
    // Requests that arrive while closing are still served (their lane jobs finish): a
    // 503 here would turn acknowledged-looking work into errors for no gain.
    return503OnClosing: false,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    clientErrorHandler: (err, socket) => {
      const { reason, answer } = clientErrorReply(err, options.keyedPath);
      metrics.countClientError(reason);
      if (answer === null) {
        socket.destroy();
        return;
      }
      logger.info(
        { reason, code: answer.body.error.code, status: answer.status },
        'request refused by the HTTP parser',
      );
      writeRawReply(socket, answer);
    },
    frameworkErrors: (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      // A bad percent-encoding or an over-long segment under /v1/items/ is a bad id.
      const underItems = request.url.startsWith(`${options.keyedPath}/`);
      const answer =
        underItems && (err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_MAX_PARAM_LENGTH')
          ? codeReply(
              'invalid_id',
              err.code === 'FST_ERR_BAD_URL'
                ? 'invalid id: bad percent-encoding'
                : `invalid id: longer than ${MAX_PARAM_LENGTH} characters`,
            )
          : errorReply(err, String(request.id));
      // Replies from here skip the route hooks: count and log them on their own.
      metrics.countRequest('unmatched', request.method, answer.status);
      metrics.countError(answer.body.error.code);
      request.log.info(
        {
          method: request.method,
          url: shortUrl(request.url),
          status: answer.status,
          code: answer.body.error.code,
        },
        'request refused',
      );
      void sendError(reply, answer);
    },
  });

  // Only JSON bodies are parsed: Fastify's text/plain parser would hand the schema a string.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });

  // Memory is bounded by what the lanes hold and by the bodies being received: refuse a body
  // that would take the bytes in flight past the bound before reading it, as `overloaded`.
  let bytesInFlight = 0;
  const held = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', (request, reply, done) => {
    const declared = request.headers['content-length'];
    const chunked = declared === undefined && request.headers['transfer-encoding'] !== undefined;
    const length = Number(declared ?? 0) || 0;
    if (length > config.maxBodyBytes) {
      refuseOversized(request, reply, length, done);
      return;
    }
    // A chunked body's size is unknown until read: count it at the largest it may be.
    const bytes = chunked ? config.maxBodyBytes : length;
    if (bytes > 0) {
      if (bytesInFlight + bytes > config.maxBytesInFlight) {
        done(new OverloadedError(`${bytesInFlight} bytes of request bodies in flight (KEYLANE_MAX_BYTES_IN_FLIGHT)`, 1_000));
        return;
      }
      bytesInFlight += bytes;
      held.set(request, bytes);
    }
    done();
  });
  /**
   * A declared body over maxBodyBytes: Fastify would answer 413 with Connection: close while the
   * caller is still sending, and the caller often sees EPIPE (a transport failure that says
   * nothing of the request) instead of the 413. So the body is read and thrown away first,
   * counted in the bytes in flight while it streams past; one too large for what is left of
   * that bound gets Fastify's answer (413 and close) at once.
   */
  const refuseOversized = (request: FastifyRequest, reply: FastifyReply, length: number, done: (err?: Error) => void): void => {
    const tooLarge = new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
    if (bytesInFlight + length > config.maxBytesInFlight) {
      void reply.header('connection', 'close');
      done(tooLarge);
      return;
    }
    bytesInFlight += length;
    held.set(request, length);
    const raw = request.raw;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      for (const event of ['end', 'error', 'close']) raw.removeListener(event, settle);
      done(tooLarge);
    };
    // 'close' without 'end': the caller went away mid-body (onRequestAbort releases the bytes).
    for (const event of ['end', 'error', 'close']) raw.on(event, settle);
    raw.resume();
  };
  const release = (request: FastifyRequest): void => {
    const bytes = held.get(request);
    if (bytes === undefined) return;
    held.delete(request);
    bytesInFlight -= bytes;
  };

  app.addHook('onRequestAbort', (request, done) => {
    release(request);
    done();
  });

  app.addHook('onResponse', async (request, reply) => {
    release(request);
    const route = request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched');
    metrics.observeRequest(route, request.method, reply.statusCode, reply.elapsedTime / 1000);
    const status = reply.statusCode;
    if (status < 400 || route === HEALTH_READY_PATH) {
      request.log.debug({ method: request.method, route, status }, 'request served');
      return;
    }
    const code = errorCodeOf(reply);
    if (code !== undefined) metrics.countError(code);
    const fields = { method: request.method, url: shortUrl(request.url), status, code };
    request.log[logLevelOf(code)](fields, status >= 500 ? 'request failed' : 'request refused');
  });

  app.setErrorHandler((err, request, reply) => {
    const answer: ErrorReply = errorReply(err, String(request.id));
    if (answer.logLevel === 'error') request.log.error({ err }, 'unexpected error');
    return sendError(reply, answer);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, codeReply('not_found', `no route ${request.method} ${shortUrl(request.url)}`)),
  );

  options.registerRoutes(app);
  const monitor = new HealthMonitor({ engine, logger, intervalMs: HEALTH_INTERVAL_MS });
  registerHealthRoutes(app, {
    engine,
    monitor,
    instanceId: config.instanceId,
    startedAt,
    isDraining: () => state === 'draining' || state === 'closing' || state === 'closed',
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

  let shutdownPromise: Promise<ShutdownOutcome> | undefined;

  const service: EngineService = {
    app,
    engine,
    config,
    metrics,
    logger,
    get state() {
      return state;
    },

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
      logger.info({ url, strategy: engine.strategy, lanes: config.lanes }, 'listening');
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

  return service;
}

// Hostile URLs can be 16 KiB long; logs and messages carry a prefix.
function shortUrl(url: string): string {
  return url.length > 120 ? `${url.slice(0, 120)}…` : url;
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
