import pg from 'pg';
import { createScratchNames, type ScratchSpace } from '@keylane/harness';
import { ensureItemsTable } from '@keylane/engine/items';
import { formatLongId } from '@keylane/protocol';

// Scratch schemas and prefixes are @keylane/harness's (createScratchNames, dropScratch,
// deleteScratchKeys): the bench only adds seeding.
export type Scratch = ScratchSpace;

export function scratchNames(): Scratch {
  return createScratchNames('run', 'bench');
}

/**
 * Creates the items table the way the service does (the items module's DDL) and inserts every
 * key with a small JSON value, in one statement.
 */
export async function seedScratch(databaseUrl: string, scratch: Scratch, keys: readonly bigint[]): Promise<void> {
  await ensureItemsTable({ connectionString: databaseUrl }, scratch.schema);
  await resetRows(databaseUrl, scratch, keys);
}

/**
 * Puts the table back to the seeded rows (and nothing else), so every fleet starts from the
 * same data instead of the rows and dead tuples the previous strategy's writes left.
 */
export async function resetRows(
  databaseUrl: string,
  scratch: Scratch,
  keys: readonly bigint[],
): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`TRUNCATE "${scratch.schema}".items`);
    await client.query(
      `INSERT INTO "${scratch.schema}".items (id, value, version, updated_at)
         SELECT id, jsonb_build_object('seed', id::text), 1, now() FROM unnest($1::bigint[]) AS id`,
      [keys.map((key) => formatLongId(key))],
    );
    await client.query('COMMIT');
    await client.query(`ANALYZE "${scratch.schema}".items`);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}
