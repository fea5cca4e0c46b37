import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createEngine } from '@keylane/engine';
import { formatLongId } from '@keylane/protocol';

/** The schema and Redis prefix this bench creates; both are removed by `dropScratch`. */
export interface Scratch {
  schema: string;
  /** Every Redis key the bench or its fleets create starts with `{<prefix>`. */
  prefix: string;
}

export function scratchNames(): Scratch {
  const name = `keylane_bench_${randomBytes(4).toString('hex')}`;
  return { schema: name, prefix: name };
}

/**
 * Creates the items table the way the service does (through the engine, so the DDL stays the
 * engine's) and inserts every key with a small JSON value, in one statement.
 */
export async function seedScratch(
  databaseUrl: string,
  redisUrl: string,
  scratch: Scratch,
  keys: readonly bigint[],
): Promise<void> {
  const engine = await createEngine({
    postgres: { connectionString: databaseUrl, schema: scratch.schema },
    redis: { url: redisUrl, keyPrefix: `${scratch.prefix}-setup` },
    lanes: 1,
  });
  await engine.close();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO "${scratch.schema}".items (id, value, version, updated_at)
         SELECT id, jsonb_build_object('seed', id::text), 1, now() FROM unnest($1::bigint[]) AS id
       ON CONFLICT (id) DO NOTHING`,
      [keys.map((key) => formatLongId(key))],
    );
  } finally {
    await client.end();
  }
}

const SAFE_SCHEMA = /^keylane_bench_[0-9a-f]{8}$/;

/** Drops the bench's schema and deletes its Redis keys (a bounded SCAN over its prefix). */
export async function dropScratch(
  databaseUrl: string,
  redisUrl: string,
  scratch: Scratch,
): Promise<number> {
  if (!SAFE_SCHEMA.test(scratch.schema))
    throw new Error(`refusing to drop schema ${JSON.stringify(scratch.schema)}`);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${scratch.schema}" CASCADE`);
  } finally {
    await client.end();
  }
  return deletePrefix(redisUrl, scratch.prefix);
}

/** Deletes keys starting with `{<prefix>`; returns how many. */
export async function deletePrefix(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    // Bounded: a SCAN walk ends when the cursor returns to 0; the cap guards a pathological server.
    for (let i = 0; i < 100_000; i++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `{${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) deleted += await redis.unlink(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    await redis.quit();
  }
  return deleted;
}
