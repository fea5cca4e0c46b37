import type { Engine } from '@keylane/engine';
import { createEntityService, type EngineService, type ServiceConfig } from '@keylane/item-service';
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
  const service = await createEntityService(config, options, {
    tables: 'cart tables',
    ensureTables: ensureCartTables,
    assertTables: assertCartTables,
    createEntity: (engine, schema) => createCarts(engine, { schema }),
    keyedPath: CARTS_PATH,
    registerRoutes: registerCartRoutes,
  });
  return Object.assign(service, { carts: service.entity });
}
