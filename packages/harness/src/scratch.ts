import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { deleteKeysContaining } from './test-context.js';

/** A schema and key prefix no other run uses, so runs never see each other's data. */
export interface ScratchSpace {
  schema: string;
  prefix: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * `keylane_<owner>_<label>_<random>`: the owner (`demo`, `bench`) says who left a schema
 * behind if a run was killed before it could clean up.
 */
export function createScratchNames(label: string, owner = 'demo'): ScratchSpace {
  const clean = (text: string) =>
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .slice(0, 24);
  const name = `keylane_${clean(owner)}_${clean(label)}_${randomBytes(4).toString('hex')}`;
  return { schema: name, prefix: name };
}

/** Drops the schema and deletes the prefix's Redis keys. */
export async function dropScratch(
  databaseUrl: string,
  redisUrl: string,
  space: ScratchSpace,
): Promise<void> {
  checkName(space.schema);
  await withClients(databaseUrl, redisUrl, async (client, redis) => {
    await client.query(`DROP SCHEMA IF EXISTS "${space.schema}" CASCADE`);
    await deleteKeysContaining(redis, space.prefix);
  });
}

/** Empties every table of the schema and deletes the prefix's Redis keys, keeping the schema. */
export async function resetScratch(
  databaseUrl: string,
  redisUrl: string,
  space: ScratchSpace,
): Promise<void> {
  checkName(space.schema);
  await withClients(databaseUrl, redisUrl, async (client, redis) => {
    const { rows } = await client.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [space.schema],
    );
    // One statement for all of them: tables that reference each other (carts and their
    // lines) can only be emptied together.
    if (rows.length > 0) {
      const tables = rows.map(
        ({ table_name }) => `"${space.schema}"."${table_name.replace(/"/g, '""')}"`,
      );
      await client.query(`TRUNCATE ${tables.join(', ')}`);
    }
    await deleteKeysContaining(redis, space.prefix);
  });
}

function checkName(schema: string): void {
  if (!IDENTIFIER.test(schema))
    throw new Error(`refusing an odd schema name: ${JSON.stringify(schema)}`);
}

async function withClients(
  databaseUrl: string | null,
  redisUrl: string,
  fn: (client: pg.Client, redis: Redis) => Promise<void>,
): Promise<void> {
  // Without a database URL the pg client is never connected (Redis-only cleanup).
  const client = new pg.Client({
    ...(databaseUrl === null ? {} : { connectionString: databaseUrl }),
    connectionTimeoutMillis: 3_000,
  });
  client.on('error', () => undefined);
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    if (databaseUrl !== null) await client.connect();
    await redis.connect();
    await fn(client, redis);
  } finally {
    if (databaseUrl !== null) await client.end().catch(() => undefined);
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** Deletes the prefix's Redis keys (e.g. between runs on one fleet); returns how many. */
export async function deleteScratchKeys(redisUrl: string, prefix: string): Promise<number> {
  let deleted = 0;
  await withClients(null, redisUrl, async (_client, redis) => {
    deleted = await deleteKeysContaining(redis, prefix);
  });
  return deleted;
}
