import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

/** A schema and key prefix no other run uses, so runs never see each other's data. */
export interface ScratchSpace {
  schema: string;
  prefix: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export function createScratchNames(label: string): ScratchSpace {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 32);
  const name = `keylane_demo_${clean}_${randomBytes(4).toString('hex')}`;
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
    await deleteKeys(redis, space.prefix);
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
    for (const { table_name } of rows) {
      await client.query(`TRUNCATE "${space.schema}"."${table_name.replace(/"/g, '""')}"`);
    }
    await deleteKeys(redis, space.prefix);
  });
}

function checkName(schema: string): void {
  if (!IDENTIFIER.test(schema))
    throw new Error(`refusing an odd schema name: ${JSON.stringify(schema)}`);
}

async function withClients(
  databaseUrl: string,
  redisUrl: string,
  fn: (client: pg.Client, redis: Redis) => Promise<void>,
): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await client.connect();
    await redis.connect();
    await fn(client, redis);
  } finally {
    await client.end().catch(() => undefined);
    redis.disconnect();
  }
}

/** Keys look like `{<prefix>:<id>}:v`; the prefix is random, so this matches only ours. SCAN, not KEYS: Redis is shared. */
async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
