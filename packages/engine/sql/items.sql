-- The items table of @keylane/engine/items, for the default schema. createItems() never runs DDL;
-- the item service runs ensureItemsTable() at start unless KEYLANE_DB_MIGRATE=false. Apply this
-- yourself (psql -f) when automatic DDL is off.
CREATE SCHEMA IF NOT EXISTS "keylane";
CREATE TABLE IF NOT EXISTS "keylane".items (
  id bigint PRIMARY KEY,
  value jsonb NOT NULL,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL
);
