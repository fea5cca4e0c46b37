import type { Pool } from 'pg';
import type { EntityOptions, Queryable } from '../../src/index.js';

/**
 * A relational entity no one would call a key-value store: a user row and its email rows,
 * loaded with one joined statement, written by transactions over both tables.
 */
export interface User {
  id: string;
  name: string;
  plan: string;
  /** timestamptz: node-postgres returns a Date. */
  createdAt: Date;
  /** numeric: node-postgres returns a string (no precision lost). */
  balance: string;
  /** bytea: a Buffer, or null. */
  avatar: Buffer | null;
  /** float8 may be NaN. */
  score: number;
  emails: { email: string; primary: boolean }[];
}

export async function createUserTables(pool: Pool, schema: string): Promise<void> {
  await pool.query(`
    CREATE TABLE "${schema}".users (
      id bigint PRIMARY KEY,
      name text NOT NULL,
      plan text NOT NULL DEFAULT 'free',
      created_at timestamptz NOT NULL DEFAULT '2026-01-02T03:04:05.678Z',
      balance numeric NOT NULL DEFAULT 0,
      avatar bytea,
      score float8 NOT NULL DEFAULT 0
    );
    CREATE TABLE "${schema}".user_emails (
      user_id bigint NOT NULL REFERENCES "${schema}".users (id) ON DELETE CASCADE,
      email text NOT NULL,
      is_primary boolean NOT NULL DEFAULT false,
      PRIMARY KEY (user_id, email)
    )`);
}

/** The loader: one statement, the user joined with its emails. */
export function loadUser(schema: string): (db: Queryable, id: bigint) => Promise<User | null> {
  const sql = `
    SELECT u.id::text AS id, u.name, u.plan, u.created_at AS "createdAt", u.balance::text AS balance, u.avatar, u.score,
           COALESCE(json_agg(json_build_object('email', e.email, 'primary', e.is_primary) ORDER BY e.email)
                    FILTER (WHERE e.email IS NOT NULL), '[]') AS emails
      FROM "${schema}".users u LEFT JOIN "${schema}".user_emails e ON e.user_id = u.id
     WHERE u.id = $1
     GROUP BY u.id`;
  return async (db, id) => {
    const { rows } = await db.query<User>(sql, [id]);
    return rows[0] ?? null;
  };
}

export function usersEntity(schema: string): EntityOptions<User> {
  return { name: 'users', key: 'long', load: loadUser(schema) };
}

/** A mutation over both tables: rename the user and add an email, then return what load reads now. */
export async function renameAndAddEmail(
  tx: Queryable,
  schema: string,
  id: bigint,
  name: string,
  email: string,
): Promise<User | null> {
  await tx.query(`UPDATE "${schema}".users SET name = $2 WHERE id = $1`, [id, name]);
  await tx.query(`INSERT INTO "${schema}".user_emails (user_id, email) VALUES ($1, $2)`, [id, email]);
  return loadUser(schema)(tx, id);
}

export async function insertUser(pool: Pool, schema: string, id: bigint, name: string): Promise<void> {
  await pool.query(`INSERT INTO "${schema}".users (id, name) VALUES ($1, $2)`, [id, name]);
  await pool.query(`INSERT INTO "${schema}".user_emails (user_id, email, is_primary) VALUES ($1, $2, true)`, [
    id,
    `${name}@example.com`,
  ]);
}

