import type { CallOptions, Engine, Entity, Queryable } from '@keylane/engine';
import type { LongIdInput } from '@keylane/protocol';
import { cartTables } from './schema.js';

export interface CartLine {
  sku: string;
  qty: number;
  priceCents: number;
}

/** A cart as cached and as answered: the parent row with its lines, sorted by sku. */
export interface Cart {
  id: string;
  owner: string;
  updatedAt: Date;
  version: number;
  lines: CartLine[];
}

/** What the service's metrics add to the engine's counters (the names the dashboard reads). */
export interface CartStats {
  /** Line upserts and removals that committed. */
  writes: number;
  /** Cart deletes that committed (whether or not the cart existed). */
  deletes: number;
  /** Always 0: carts take no conditional writes. */
  versionConflicts: number;
}

export interface SetLine {
  qty: number;
  priceCents: number;
  /** The owner of a cart this write creates; an existing cart keeps its own. */
  owner: string;
}

export interface Carts {
  readonly entity: Entity<Cart>;
  get(id: LongIdInput, options?: CallOptions): Promise<Cart | null>;
  /** Upserts one line, creating the cart if needed; the cart as committed. */
  setLine(id: LongIdInput, sku: string, line: SetLine, options?: CallOptions): Promise<Cart>;
  /** Removes one line; `null` when the cart or the line did not exist (then nothing changed). */
  removeLine(id: LongIdInput, sku: string, options?: CallOptions): Promise<Cart | null>;
  /** Deletes the cart and its lines; whether it existed. */
  deleteCart(id: LongIdInput, options?: CallOptions): Promise<boolean>;
  stats(): CartStats;
}

interface CartRow {
  id: string;
  owner: string;
  updatedAt: Date;
  version: string;
  lines: CartLine[];
}

/** The entity name inside each key's hash tag: `{<prefix>:carts:<id>}`. */
export const CARTS_ENTITY = 'carts';

/** Declares the carts entity on `engine`: a loader joining both tables, mutations touching both. */
export function createCarts(engine: Engine, options: { schema: string }): Carts {
  const { carts, lines } = cartTables(options.schema);
  // One statement, so the parent and its lines come from one snapshot without a transaction.
  const select = `SELECT c.id::text AS id, c.owner, c.updated_at AS "updatedAt", c.version::text AS version,
       coalesce(json_agg(json_build_object('sku', l.sku, 'qty', l.qty, 'priceCents', l.price_cents) ORDER BY l.sku)
                FILTER (WHERE l.sku IS NOT NULL), '[]') AS lines
  FROM ${carts} c LEFT JOIN ${lines} l ON l.cart_id = c.id
 WHERE c.id = $1 GROUP BY c.id`;
  const load = async (db: Queryable, id: bigint): Promise<Cart | null> => {
    const row = (await db.query<CartRow>(select, [id.toString()])).rows[0];
    if (row === undefined) return null;
    return { id: row.id, owner: row.owner, updatedAt: row.updatedAt, version: Number(row.version), lines: row.lines };
  };
  const entity = engine.entity({ name: CARTS_ENTITY, key: 'long', load });
  const stats: CartStats = { writes: 0, deletes: 0, versionConflicts: 0 };
  // The parent row's version and time move with every change to its lines: readers see one cart.
  const touch = `UPDATE ${carts} SET updated_at = clock_timestamp(), version = version + 1 WHERE id = $1`;

  return {
    entity,
    get: (id, callOptions = {}) => entity.get(id, callOptions),

    async setLine(id, sku, line, callOptions = {}) {
      const cart = await entity.mutate(
        id,
        async (tx, key) => {
          await tx.query(
            `INSERT INTO ${carts} (id, owner, updated_at, version) VALUES ($1, $2, clock_timestamp(), 1)
             ON CONFLICT (id) DO UPDATE SET updated_at = clock_timestamp(), version = ${carts}.version + 1`,
            [key.toString(), line.owner],
          );
          await tx.query(
            `INSERT INTO ${lines} (cart_id, sku, qty, price_cents) VALUES ($1, $2, $3, $4)
             ON CONFLICT (cart_id, sku) DO UPDATE SET qty = EXCLUDED.qty, price_cents = EXCLUDED.price_cents`,
            [key.toString(), sku, line.qty, line.priceCents],
          );
          const after = await load(tx, key);
          if (after === null) throw new Error(`cart ${key} vanished inside its own transaction`);
          return after;
        },
        callOptions,
      );
      stats.writes += 1;
      return cart;
    },

    async removeLine(id, sku, callOptions = {}) {
      let removed = false;
      const cart = await entity.mutate(
        id,
        async (tx, key) => {
          const { rowCount } = await tx.query(`DELETE FROM ${lines} WHERE cart_id = $1 AND sku = $2`, [key.toString(), sku]);
          removed = (rowCount ?? 0) > 0;
          if (removed) await tx.query(touch, [key.toString()]);
          // Unchanged when nothing was removed: the fill is still the committed cart (or its absence).
          return load(tx, key);
        },
        callOptions,
      );
      if (!removed) return null;
      stats.writes += 1;
      return cart;
    },

    async deleteCart(id, callOptions = {}) {
      let existed = false;
      await entity.mutate(
        id,
        async (tx, key) => {
          await tx.query(`DELETE FROM ${lines} WHERE cart_id = $1`, [key.toString()]);
          const { rowCount } = await tx.query(`DELETE FROM ${carts} WHERE id = $1`, [key.toString()]);
          existed = (rowCount ?? 0) > 0;
          return null;
        },
        callOptions,
      );
      stats.deletes += 1;
      return existed;
    },

    stats: () => ({ ...stats }),
  };
}
