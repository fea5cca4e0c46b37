import { createCarts, ensureCartTables, type Cart } from '@keylane/cart-service';
import type { Engine } from '@keylane/engine';
import { createItems, ensureItemsTable } from '@keylane/engine/items';
import type { FleetService } from '../fleet/index.js';
import type { ItemClient } from '../workload/index.js';
import { formatLongId, InvalidOptionsError, type Item } from '@keylane/protocol';
import type { KeylaneClient } from '@keylane/sdk';
import { inspect } from '@keylane/engine/testing';

/**
 * What the demo's workload runs on. Every run is a register per key (each write puts a value,
 * each read returns the last one), which the checker needs; each entity carries that register
 * in its own tables:
 * - `items`: the item service's one table, the value as the item's value.
 * - `carts`: the cart service's carts + cart_lines (the relational example). A write sets the
 *   cart's line `REGISTER_SKU` (an UPDATE of the cart row and an UPSERT of the line, in one
 *   transaction), its price encoding the written value; a read loads the cart through the join
 *   and decodes that line's price.
 */
export type DemoEntity = 'items' | 'carts';
export const DEMO_ENTITIES: readonly DemoEntity[] = ['items', 'carts'];

/** One key's register value as cached and as stored (`cached` undefined: nothing cached). */
export interface RegisterAtRest {
  cached: string | null | undefined;
  stored: string | null;
}

export interface EntityAdapter {
  /** The fleet service that serves this entity (routed deployment). */
  readonly service: FleetService;
  ensureTables(databaseUrl: string, schema: string): Promise<void>;
  /** The register through an engine in this process (embedded deployment). */
  embedded(engine: Engine, schema: string): ItemClient;
  /** The register through a routed SDK client (routed deployment). */
  routed(client: KeylaneClient): ItemClient;
  /** The cache and the rows read directly (no lane, no guard), for the at-rest check. */
  inspector(engine: Engine, schema: string): (key: bigint) => Promise<RegisterAtRest>;
}

export function entityAdapter(entity: DemoEntity): EntityAdapter {
  if (entity === 'items') return ITEMS;
  if (entity === 'carts') return CARTS;
  throw new InvalidOptionsError(
    'entity',
    `unknown entity "${String(entity)}"; expected ${DEMO_ENTITIES.join(', ')}`,
  );
}

/** Values are written as strings; anything else read back is its JSON text (a garbage read). */
function itemText(item: Item | null): string | null {
  if (item === null) return null;
  return typeof item.value === 'string' ? item.value : JSON.stringify(item.value);
}

const ITEMS: EntityAdapter = {
  service: 'items',
  ensureTables: (databaseUrl, schema) =>
    ensureItemsTable({ connectionString: databaseUrl }, schema),
  embedded(engine, schema) {
    const items = createItems(engine, { schema });
    return { get: (id) => items.read(id), put: (id, value) => items.write(id, value) };
  },
  routed: (client) => client,
  inspector(engine, schema) {
    const items = createItems(engine, { schema });
    return async (key) => {
      const { cached, stored } = await inspect(items.entity, key);
      return {
        cached: cached === undefined ? undefined : itemText(cached),
        stored: itemText(stored),
      };
    };
  },
};

/** The line that holds the register in every cart. */
export const REGISTER_SKU = 'register';
const PRICE_BASE = 100_000_000;

/**
 * The workload writes `<caller>:<seq>` with callers named `c<n>`; as one integer price, so the
 * line can carry it: n * 10^8 + seq (under the cart service's 10^12 bound for n < 10,000).
 */
export function registerPrice(value: string): number {
  const match = /^c(\d{1,4}):(\d{1,8})$/.exec(value);
  if (!match)
    throw new InvalidOptionsError(
      'value',
      `the carts entity carries c<n>:<seq> values, got ${JSON.stringify(value)}`,
    );
  return Number(match[1]) * PRICE_BASE + Number(match[2]);
}

function registerValue(cart: Pick<Cart, 'lines'> | null): string | null {
  const line = cart?.lines.find((l) => l.sku === REGISTER_SKU);
  if (!line) return null;
  return `c${Math.floor(line.priceCents / PRICE_BASE)}:${line.priceCents % PRICE_BASE}`;
}

/** A register read or write as the item shape the workload records (`value` is what it checks). */
function asItem(id: bigint, cart: (Pick<Cart, 'lines'> & { version: number }) | null): Item | null {
  const value = registerValue(cart);
  return cart === null || value === null
    ? null
    : { id: formatLongId(id), value, version: cart.version };
}

const CARTS: EntityAdapter = {
  service: 'carts',
  ensureTables: (databaseUrl, schema) =>
    ensureCartTables({ connectionString: databaseUrl }, schema),
  embedded(engine, schema) {
    const carts = createCarts(engine, { schema });
    return {
      get: async (id) => asItem(id, await carts.get(id)),
      put: async (id, value) => {
        const cart = await carts.setLine(id, REGISTER_SKU, {
          qty: 1,
          priceCents: registerPrice(String(value)),
          owner: 'demo',
        });
        return asItem(id, cart)!;
      },
    };
  },
  routed(client) {
    const path = (id: bigint): string => `/v1/carts/${formatLongId(id)}`;
    return {
      async get(id) {
        const answer = await client.request(id, { path: path(id) });
        if (answer.status === 404) return null;
        if (answer.status !== 200)
          throw new Error(`GET ${path(id)} answered ${answer.status}: ${answer.text}`);
        return asItem(id, answer.body as Cart);
      },
      async put(id, value) {
        const answer = await client.request(id, {
          method: 'PUT',
          path: `${path(id)}/lines/${REGISTER_SKU}`,
          body: { qty: 1, priceCents: registerPrice(String(value)) },
        });
        if (answer.status !== 200)
          throw new Error(`PUT ${path(id)} answered ${answer.status}: ${answer.text}`);
        return asItem(id, answer.body as Cart)!;
      },
    };
  },
  inspector(engine, schema) {
    const carts = createCarts(engine, { schema });
    return async (key) => {
      const { cached, stored } = await inspect(carts.entity, key);
      return {
        cached: cached === undefined ? undefined : cached === null ? null : registerValue(cached),
        stored: registerValue(stored),
      };
    };
  },
};
