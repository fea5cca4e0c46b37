/**
 * The statements a hand-written cache-aside runs on the items table (the direct cache-aside and
 * bentocache's factory share them): a primary-key SELECT and the UPSERT the item service makes.
 */
export function itemStatements(schema: string): { select: string; upsert: string } {
  const table = `"${schema}".items`;
  return {
    select: `SELECT id::text AS id, value, version::text AS version FROM ${table} WHERE id = $1`,
    upsert: `INSERT INTO ${table} AS t (id, value, version, updated_at) VALUES ($1::bigint, $2::jsonb, 1, now())
                  ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value, version = t.version + 1, updated_at = now()
                  RETURNING id::text AS id, value, version::text AS version`,
  };
}

export interface ItemRow {
  id: string;
  value: unknown;
  version: string;
}

/** A row as the item API answers it. */
export function toItem(row: ItemRow): { id: string; value: unknown; version: number } {
  return { id: row.id, value: row.value, version: Number(row.version) };
}
