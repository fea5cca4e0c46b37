import { describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '@keylane/harness';
import { createScratchNames, deleteScratchKeys, dropScratch, resetScratch } from '../src/index.js';

async function withClients<T>(fn: (client: pg.Client, redis: Redis) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  await client.connect();
  await redis.connect();
  try {
    return await fn(client, redis);
  } finally {
    await client.end();
    await redis.quit();
  }
}

describe('scratch spaces', () => {
  it('names them after their owner and label, differently every time', () => {
    const a = createScratchNames('Serial-Guarded', 'bench');
    expect(a.schema).toMatch(/^keylane_bench_serial_guarded_[0-9a-f]{8}$/);
    expect(a.prefix).toBe(a.schema);
    expect(createScratchNames('Serial-Guarded', 'bench').schema).not.toBe(a.schema);
    expect(createScratchNames('x').schema).toMatch(/^keylane_demo_x_/);
  });

  it('empties, then drops a schema and deletes only its own Redis keys', async () => {
    const space = createScratchNames('scratch_test', 'fleet_test');
    const other = createScratchNames('bystander', 'fleet_test');
    await withClients(async (client, redis) => {
      await client.query(`CREATE SCHEMA "${space.schema}"`);
      await client.query(`CREATE TABLE "${space.schema}".items (id bigint PRIMARY KEY)`);
      await client.query(`INSERT INTO "${space.schema}".items VALUES (1), (2)`);
      await redis.set(`{${space.prefix}:1}:v`, 'a');
      await redis.set(`{${space.prefix}:2}:v`, 'b');
      await redis.set(`{${other.prefix}:1}:v`, 'c');
    });
    try {
      await resetScratch(TEST_DATABASE_URL, TEST_REDIS_URL, space);
      await withClients(async (client, redis) => {
        const { rows } = await client.query(
          `SELECT count(*)::int AS n FROM "${space.schema}".items`,
        );
        expect(rows).toEqual([{ n: 0 }]);
        expect(await redis.exists(`{${space.prefix}:1}:v`, `{${space.prefix}:2}:v`)).toBe(0);
        await redis.set(`{${space.prefix}:3}:v`, 'd');
      });
      expect(await deleteScratchKeys(TEST_REDIS_URL, space.prefix)).toBe(1);

      await dropScratch(TEST_DATABASE_URL, TEST_REDIS_URL, space);
      await withClients(async (client, redis) => {
        const { rows } = await client.query(
          'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
          [space.schema],
        );
        expect(rows).toHaveLength(0);
        expect(await redis.get(`{${other.prefix}:1}:v`)).toBe('c');
      });
    } finally {
      await withClients(async (client, redis) => {
        await client.query(`DROP SCHEMA IF EXISTS "${space.schema}" CASCADE`);
        await redis.del(`{${other.prefix}:1}:v`);
      });
    }
  });

  it('refuses to drop a schema whose name could be SQL', async () => {
    await expect(
      dropScratch(TEST_DATABASE_URL, TEST_REDIS_URL, { schema: 'x"; DROP', prefix: 'x' }),
    ).rejects.toThrow(/odd schema name/);
  });
});
