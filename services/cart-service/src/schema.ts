import pg from 'pg';

// Schema names go into SQL as identifiers: the form the service's KEYLANE_DB_SCHEMA accepts.
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** `"<schema>".carts` and `"<schema>".cart_lines`, quoted. */
export interface CartTables {
  readonly carts: string;
  readonly lines: string;
}

export function cartTables(schema: string): CartTables {
  if (!IDENTIFIER.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}: expected ${String(IDENTIFIER)}`);
  return { carts: `"${schema}".carts`, lines: `"${schema}".cart_lines` };
}

/**
 * The parent row and its children. `qty > 0` is the database's own rule (the routes refuse 0
 * before it gets here); deleting a cart deletes its lines.
 */
export function cartTablesDdl(schema: string): string {
  const { carts, lines } = cartTables(schema);
  return `CREATE SCHEMA IF NOT EXISTS "${schema}";
CREATE TABLE IF NOT EXISTS ${carts} (
  id bigint PRIMARY KEY,
  owner text NOT NULL,
  updated_at timestamptz NOT NULL,
  version bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS ${lines} (
  cart_id bigint NOT NULL REFERENCES ${carts} (id) ON DELETE CASCADE,
  sku text NOT NULL,
  qty integer NOT NULL CHECK (qty > 0),
  price_cents bigint NOT NULL CHECK (price_cents >= 0),
  PRIMARY KEY (cart_id, sku)
);
`;
}

/**
 * Creates the tables if missing. Instances starting together would race on `CREATE ... IF NOT
 * EXISTS` (not atomic in Postgres), so the DDL runs under a transaction-scoped advisory lock.
 */
export async function ensureCartTables(postgres: pg.ClientConfig, schema: string): Promise<void> {
  const ddl = cartTablesDdl(schema);
  const client = new pg.Client(postgres);
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`keylane-carts:${schema}`]);
    await client.query(ddl);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Throws unless both tables exist: a start without automatic DDL fails at once, not per request. */
export async function assertCartTables(postgres: pg.ClientConfig, schema: string): Promise<void> {
  const { carts, lines } = cartTables(schema);
  const client = new pg.Client(postgres);
  await client.connect();
  try {
    const { rows } = await client.query<{ carts: string | null; lines: string | null }>(
      'SELECT to_regclass($1)::text AS carts, to_regclass($2)::text AS lines',
      [carts, lines],
    );
    const missing = [rows[0]?.carts ? null : carts, rows[0]?.lines ? null : lines].filter((t) => t !== null);
    if (missing.length > 0) {
      throw new Error(`${missing.join(' and ')} missing; apply cartTablesDdl() of @keylane/cart-service (or let the service create them)`);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
