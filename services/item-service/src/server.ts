import { createEngine, type Engine } from '@keylane/engine';
import { assertItemsTable, createItems, ensureItemsTable, type Items, type ItemsStats } from '@keylane/engine/items';
import { ITEMS_PATH, UnavailableError } from '@keylane/protocol';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ServiceConfig } from './config.js';
import { engineOptionsFrom } from './engine-options.js';
import { createLogger } from './logger.js';
import { registerItemRoutes } from './routes/items.js';
import { createServiceShell, type EngineService } from './service-shell.js';

export interface CreateServerOptions {
  /** Use this engine instead of creating one from the config. The caller keeps ownership: it is not closed. */
  engine?: Engine;
  /** @default JSON lines on stdout at `config.logLevel` */
  logger?: Logger;
  /** Export process metrics (CPU, memory, event loop). @default true */
  processMetrics?: boolean;
}

export interface ItemService extends EngineService {
  /** The items entity the routes serve. */
  readonly items: Items;
}

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
    createEntity: (engine, schema) => createItems(engine, { schema, groupCommit: config.groupCommit }),
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
