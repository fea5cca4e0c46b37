import { formatLongId, type Item } from '@keylane/protocol';
import type pg from 'pg';

/** Anything that runs a query: a lane's Client or the pool of the unserialized strategies. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

interface Row {
  id: string;
  value: unknown;
  version: string;
}

/** Why a write statement changed nothing. */
export type WriteRefusal =
  | { kind: 'conflict'; actualVersion: number | null }
  | { kind: 'expired' };

export type WriteOutcome = { ok: true; item: Item } | { ok: false; refusal: WriteRefusal };
export type DeleteOutcome = { ok: true; existed: boolean } | { ok: false; refusal: { kind: 'expired' } };

/**
 * The SQL of one schema's items table. Every write is one autocommit statement, so it is
 * atomic, and it carries an optional deadline (epoch ms) checked by Postgres' own clock at
 * the moment the row is written: past the deadline it changes nothing.
 */
export class ItemStore {
  readonly table: string;

  constructor(readonly schema: string) {
    // The schema is validated as a plain identifier in options.ts; quoting keeps it literal.
    this.table = `"${schema}".items`;
  }

  /**
   * Creates the schema and table if missing. Instances starting together would race on
   * `CREATE ... IF NOT EXISTS` (it is not atomic in Postgres), so the DDL runs under a
   * transaction-scoped advisory lock named after the schema.
   */
  async ensureTable(pool: pg.Pool): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`keylane:${this.schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.table} (
           id bigint PRIMARY KEY,
           value jsonb NOT NULL,
           version bigint NOT NULL,
           updated_at timestamptz NOT NULL
         )`,
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async read(db: Queryable, id: bigint): Promise<Item | null> {
    const { rows } = await db.query<Row>(
      `SELECT id::text AS id, value, version::text AS version FROM ${this.table} WHERE id = $1`,
      [formatLongId(id)],
    );
    const row = rows[0];
    return row ? toItem(row) : null;
  }

  /**
   * Writes `json` (already serialized) and bumps the version, in one statement that returns
   * the new row. `ifVersion` 0 means "must not exist"; `deadlineMs` null means no deadline.
   */
  async write(
    db: Queryable,
    id: bigint,
    json: string,
    ifVersion: number | undefined,
    deadlineMs: number | null,
  ): Promise<WriteOutcome> {
    const live = `($4::float8 IS NULL OR clock_timestamp() < to_timestamp($4::float8 / 1000.0))`;
    const returning = `RETURNING id::text AS id, value, version::text AS version`;
    let sql: string;
    let params: unknown[];
    if (ifVersion === undefined) {
      sql = `INSERT INTO ${this.table} AS t (id, value, version, updated_at)
               SELECT $1::bigint, $2::jsonb, 1, now() WHERE ${live}
             ON CONFLICT (id) DO UPDATE
               SET value = EXCLUDED.value, version = t.version + 1, updated_at = now()
               WHERE ${live} AND $3::bigint IS NULL
             ${returning}`;
      params = [formatLongId(id), json, null, deadlineMs];
    } else if (ifVersion === 0) {
      sql = `INSERT INTO ${this.table} (id, value, version, updated_at)
               SELECT $1::bigint, $2::jsonb, 1, now() WHERE ${live} AND $3::bigint = 0
             ON CONFLICT (id) DO NOTHING
             ${returning}`;
      params = [formatLongId(id), json, 0, deadlineMs];
    } else {
      sql = `UPDATE ${this.table}
               SET value = $2::jsonb, version = version + 1, updated_at = now()
               WHERE id = $1::bigint AND version = $3::bigint AND ${live}
             ${returning}`;
      params = [formatLongId(id), json, ifVersion, deadlineMs];
    }
    const { rows } = await db.query<Row>(sql, params);
    const row = rows[0];
    if (row) return { ok: true, item: toItem(row) };
    return { ok: false, refusal: await this.whyRefused(db, id, ifVersion) };
  }

  /** Deletes the row; `existed` says whether there was one. Same deadline rule as `write`. */
  async delete(db: Queryable, id: bigint, deadlineMs: number | null): Promise<DeleteOutcome> {
    // The deadline is taken once, in a CTE, so "expired" and "nothing to delete" are told
    // apart by the same statement that did (or did not) delete.
    const { rows } = await db.query<{ live: boolean; deleted: boolean }>(
      `WITH clock AS MATERIALIZED (
         SELECT ($2::float8 IS NULL OR clock_timestamp() < to_timestamp($2::float8 / 1000.0)) AS live
       ), gone AS (
         DELETE FROM ${this.table} WHERE id = $1::bigint AND (SELECT live FROM clock) RETURNING id
       )
       SELECT (SELECT live FROM clock) AS live, EXISTS (SELECT 1 FROM gone) AS deleted`,
      [formatLongId(id), deadlineMs],
    );
    const row = rows[0];
    if (!row?.live) return { ok: false, refusal: { kind: 'expired' } };
    return { ok: true, existed: row.deleted };
  }

  /**
   * A write returned no row: either the version check failed or the deadline passed.
   * Read the row back; if its version would have passed the check, the deadline is why.
   * (A concurrent writer can blur the two; both mean nothing was committed.)
   */
  private async whyRefused(db: Queryable, id: bigint, ifVersion: number | undefined): Promise<WriteRefusal> {
    if (ifVersion === undefined) return { kind: 'expired' };
    const current = await this.read(db, id);
    const actualVersion = current?.version ?? null;
    const passes = ifVersion === 0 ? actualVersion === null : actualVersion === ifVersion;
    return passes ? { kind: 'expired' } : { kind: 'conflict', actualVersion };
  }
}

function toItem(row: Row): Item {
  return { id: row.id, value: row.value, version: Number(row.version) };
}
