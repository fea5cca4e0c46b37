import type { Engine } from '@keylane/engine';
import { createServiceShell, startEngine, type EngineService, type ServiceConfig } from '@keylane/item-service';
import { UnavailableError } from '@keylane/protocol';
import type { Logger } from 'pino';
import { createCarts, type Carts } from './carts.js';
import { CARTS_PATH, registerCartRoutes } from './routes.js';
import { assertCartTables, ensureCartTables } from './schema.js';

export interface CartService extends EngineService {
  readonly carts: Carts;
}

export interface CreateCartServerOptions {
  /** Use this engine instead of creating one from the config. The caller keeps it: it is not closed. */
  engine?: Engine;
  logger: Logger;
  /** @default true */
  processMetrics?: boolean;
}

/**
 * The cart service without listening: the item service's shell (config, error registry, body
 * bounds, health, metrics, drain) around the cart routes. KEYLANE_DB_MIGRATE creates the two
 * tables instead of the items table.
 */
export async function createCartServer(config: ServiceConfig, options: CreateCartServerOptions): Promise<CartService> {
  const { logger } = options;
  const ownsEngine = options.engine === undefined;
  const postgres = { connectionString: config.databaseUrl, connectionTimeoutMillis: 5_000 };
  try {
    if (config.dbMigrate) await ensureCartTables(postgres, config.dbSchema);
    else await assertCartTables(postgres, config.dbSchema);
  } catch (err) {
    throw new UnavailableError(`cart tables: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const engine = options.engine ?? (await startEngine(config, logger));
  try {
    const carts = createCarts(engine, { schema: config.dbSchema });
    const shell = createServiceShell({
      config,
      engine,
      ownsEngine,
      logger,
      processMetrics: options.processMetrics ?? true,
      stats: () => ({ ...engine.stats(), ...carts.stats() }),
      keyedPath: CARTS_PATH,
      registerRoutes: (app) => registerCartRoutes(app, carts, { clockSkewMs: config.clockSkewMs }),
    });
    return Object.assign(shell, { carts });
  } catch (err) {
    if (ownsEngine) await engine.close().catch(() => undefined);
    throw err;
  }
}
