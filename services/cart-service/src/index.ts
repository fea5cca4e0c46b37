export { createCarts, CARTS_ENTITY, type Cart, type CartLine, type Carts, type CartStats, type SetLine } from './carts.js';
export { main } from './main.js';
export {
  CARTS_PATH,
  CART_ROUTE,
  DEFAULT_OWNER,
  LINE_BODY_SCHEMA,
  LINE_ROUTE,
  MAX_PRICE_CENTS,
  MAX_QTY,
  SKU_PATTERN,
  InvalidSkuError,
  parseSku,
  type LineBody,
} from './routes.js';
export { assertCartTables, cartTables, cartTablesDdl, ensureCartTables, type CartTables } from './schema.js';
export { createCartServer, type CartService, type CreateCartServerOptions } from './server.js';
