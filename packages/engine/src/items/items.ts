import {
  formatLongId,
  InvalidOptionsError,
  UnavailableError,
  VersionConflictError,
  type Item,
  type LongIdInput,
} from '@keylane/protocol';
import pg from 'pg';
import { InvalidValueError } from '../errors.js';
import type { CallOptions, Codec, Engine, Entity, Queryable } from '../types.js';

/**
 * The items table, `(id bigint, value jsonb, version bigint, updated_at)`, as one entity on the
 * public entity API: the table the item service, the demo and the benchmarks use. Nothing here
 * is special to the engine; it is also a worked example of an entity with a conditional write.
 */
export interface ItemsOptions {
  /** Schema holding the items table: a lowercase identifier. @default 'keylane' */
  schema?: string;
  /** The entity's name (its namespace in Redis). @default 'items' */
  name?: string;
  /**
   * Group commit of queued writes of one item (the entity option): a write is one UPSERT, so
   * members share only `now()` as `updated_at`; each gets its own version. The item service
   * turns it on (`KEYLANE_GROUP_COMMIT`). @default false
   */
  groupCommit?: boolean;
}

export interface WriteOptions extends CallOptions {
  /** Apply only if the item is at this version; 0 means "must not exist yet". */
  ifVersion?: number;
}

export interface ItemsStats {
  /** Writes that committed. */
  writes: number;
  /** Deletes that committed (whether or not a row existed). */
  deletes: number;
  versionConflicts: number;
}

export interface Items {
  readonly entity: Entity<Item>;
  /** `"<schema>".items`, quoted. */
  readonly table: string;
  read(id: LongIdInput, options?: CallOptions): Promise<Item | null>;
  /** `read` as the item's wire JSON, `{"id":...,"value":...,"version":...}`, straight from the cache on a hit. */
  readText(id: LongIdInput, options?: CallOptions): Promise<string | null>;
  /** Bumps `version` (1 on the first write) and returns the row; a failed `ifVersion` throws `VersionConflictError`. */
  write(id: LongIdInput, value: unknown, options?: WriteOptions): Promise<Item>;
  /** `true` if a row was deleted. */
  delete(id: LongIdInput, options?: CallOptions): Promise<boolean>;
  stats(): ItemsStats;
}

export const DEFAULT_ITEMS_SCHEMA = 'keylane';

// Schema names go into SQL as identifiers; keep them to a conservative unquoted form.
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** The table's DDL; `sql/items.sql` in this package is this text for the default schema (a test keeps them equal). */
export function itemsTableDdl(schema: string = DEFAULT_ITEMS_SCHEMA): string {
  const table = tableName(checkSchema(schema));
  return `CREATE SCHEMA IF NOT EXISTS "${schema}";
CREATE TABLE IF NOT EXISTS ${table} (
  id bigint PRIMARY KEY,
  value jsonb NOT NULL,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL
);
`;
}

/**
 * Creates the schema and table if missing (the auto-DDL the item service runs at start unless
 * told not to). Instances starting together would race on `CREATE ... IF NOT EXISTS` (it is
 * not atomic in Postgres), so the DDL runs under a transaction-scoped advisory lock.
 */
export async function ensureItemsTable(postgres: pg.Pool | pg.ClientConfig, schema: string = DEFAULT_ITEMS_SCHEMA): Promise<void> {
  const ddl = itemsTableDdl(schema);
  let client: pg.ClientBase;
  let done: () => Promise<void>;
  if (postgres instanceof pg.Pool) {
    const pooled = await postgres.connect();
    client = pooled;
    done = () => {
      pooled.release();
      return Promise.resolve();
    };
  } else {
    const own = new pg.Client(postgres);
    await own.connect();
    client = own;
    done = () => own.end().catch(() => undefined);
  }
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`keylane:${schema}`]);
    await client.query(ddl);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await done();
  }
}

/**
 * Throws unless the items table exists: for a start without automatic DDL, so a missing
 * migration fails the start instead of every request.
 */
export async function assertItemsTable(postgres: pg.ClientConfig, schema: string = DEFAULT_ITEMS_SCHEMA): Promise<void> {
  const client = new pg.Client(postgres);
  await client.connect();
  try {
    const { rows } = await client.query<{ found: string | null }>('SELECT to_regclass($1)::text AS found', [tableName(checkSchema(schema))]);
    if (!rows[0]?.found) {
      throw new Error(`table ${tableName(schema)} does not exist; apply sql/items.sql of @keylane/engine (or let the service create it)`);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface Row {
  id: string;
  value: unknown;
  version: string;
}

// The cached text is the item's wire form, `{"id":...,"value":...,"version":...}`: jsonb holds
// only JSON, so plain JSON round-trips it exactly.
const ITEM_CODEC: Codec<Item> = {
  encode: (item) => JSON.stringify({ id: item.id, value: item.value, version: item.version }),
  decode: (text) => JSON.parse(text) as Item,
};

/** Declares the items entity on `engine`. The table must exist (`ensureItemsTable`, or `sql/items.sql`). */
export function createItems(engine: Engine, options: ItemsOptions = {}): Items {
  const schema = checkSchema(options.schema ?? DEFAULT_ITEMS_SCHEMA);
  const table = tableName(schema);
  const select = `SELECT id::text AS id, value, version::text AS version FROM ${table} WHERE id = $1`;
  const stats: ItemsStats = { writes: 0, deletes: 0, versionConflicts: 0 };

  const entity = engine.entity<Item>({
    name: options.name ?? 'items',
    key: 'long',
    codec: ITEM_CODEC,
    groupCommit: options.groupCommit ?? false,
    load: async (db, id) => {
      try {
        const { rows } = await db.query<Row>(select, [formatLongId(id)]);
        const row = rows[0];
        return row ? toItem(row) : null;
      } catch (err) {
        // A statement that cannot fail on its own: its failures are Postgres' state.
        throw err instanceof pg.DatabaseError ? new UnavailableError(`postgres read failed: ${err.message}`, { cause: err }) : err;
      }
    },
  });

  const write = async (tx: Queryable, id: bigint, json: string, ifVersion: number | undefined): Promise<Item> => {
    const returning = 'RETURNING id::text AS id, value, version::text AS version';
    let sql: string;
    let params: unknown[];
    if (ifVersion === undefined) {
      sql = `INSERT INTO ${table} AS t (id, value, version, updated_at) VALUES ($1::bigint, $2::jsonb, 1, now())
             ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value, version = t.version + 1, updated_at = now()
             ${returning}`;
      params = [formatLongId(id), json];
    } else if (ifVersion === 0) {
      sql = `INSERT INTO ${table} (id, value, version, updated_at) VALUES ($1::bigint, $2::jsonb, 1, now())
             ON CONFLICT (id) DO NOTHING ${returning}`;
      params = [formatLongId(id), json];
    } else {
      sql = `UPDATE ${table} SET value = $2::jsonb, version = version + 1, updated_at = now()
             WHERE id = $1::bigint AND version = $3::bigint ${returning}`;
      params = [formatLongId(id), json, ifVersion];
    }
    const { rows } = await tx.query<Row>(sql, params);
    const row = rows[0];
    if (row) return toItem(row);
    // Inside the same transaction, so the version it reports is the one that refused the write.
    const current = await tx.query<{ version: string }>(`SELECT version::text AS version FROM ${table} WHERE id = $1`, [
      formatLongId(id),
    ]);
    const actual = current.rows[0] ? Number(current.rows[0].version) : null;
    stats.versionConflicts += 1;
    throw new VersionConflictError(formatLongId(id), ifVersion ?? 0, actual);
  };

  return {
    entity,
    table,
    read: (id, options) => entity.get(id, options),
    readText: (id, options) => entity.getText(id, options),

    async write(id, value, writeOptions = {}) {
      const json = encodeItemValue(value);
      const { ifVersion, ...call } = writeOptions;
      if (ifVersion !== undefined && (!Number.isSafeInteger(ifVersion) || ifVersion < 0)) {
        throw new InvalidValueError(`ifVersion must be a non-negative safe integer, got ${String(ifVersion)}`);
      }
      const item = await refusedByPostgres(entity.mutate(id, (tx, key) => write(tx, key, json, ifVersion), call));
      stats.writes += 1;
      return item;
    },

    async delete(id, options = {}) {
      let existed = false;
      await refusedByPostgres(
        entity.mutate(id, async (tx, key) => {
          const { rowCount } = await tx.query(`DELETE FROM ${table} WHERE id = $1::bigint`, [formatLongId(key)]);
          existed = (rowCount ?? 0) > 0;
          return null;
        }, options),
      );
      stats.deletes += 1;
      return existed;
    },

    stats: () => ({ ...stats }),
  };
}

/** A statement Postgres refused (the transaction rolled back): retryable, nothing committed. */
async function refusedByPostgres<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof pg.DatabaseError) {
      throw new UnavailableError(`postgres refused the write, nothing was committed: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

// JSON.stringify writes U+0000 and lone UTF-16 surrogates as \u escapes (well-formed pairs
// come out as themselves), preceded by an even number of backslashes: an odd number means an
// escaped backslash, then text.
const NUL_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000/;
const LONE_SURROGATE_ESCAPE = /(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/i;

/** The value as jsonb text, refusing what jsonb cannot hold before the DB sees it. */
export function encodeItemValue(value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new InvalidValueError(`value is not JSON-serializable: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  if (json === undefined) throw new InvalidValueError('value is not JSON-serializable (undefined, a function or a symbol)');
  // Postgres' jsonb refuses both (22P05, 22P02): it is the caller's value that cannot be stored.
  if (NUL_ESCAPE.test(json)) {
    throw new InvalidValueError('value contains U+0000 (a NUL character), which PostgreSQL jsonb cannot store');
  }
  if (LONE_SURROGATE_ESCAPE.test(json)) {
    throw new InvalidValueError(
      'value contains a lone UTF-16 surrogate (half of a pair), which is not Unicode text and PostgreSQL jsonb cannot store',
    );
  }
  return json;
}

function checkSchema(schema: unknown): string {
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema)) {
    throw new InvalidOptionsError(
      'schema',
      `expected a lowercase identifier matching ${String(IDENTIFIER)}, got ${JSON.stringify(schema)}`,
    );
  }
  return schema;
}

function tableName(schema: string): string {
  // Validated as a plain identifier; quoting keeps it literal.
  return `"${schema}".items`;
}

function toItem(row: Row): Item {
  return { id: row.id, value: row.value, version: Number(row.version) };
}
