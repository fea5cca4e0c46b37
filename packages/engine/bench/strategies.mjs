/* global process, performance, console */
// Side-by-side throughput of the strategies on one machine. A report, not a test: numbers
// depend on the host. Run after `pnpm run build`:
//   node bench/strategies.mjs [--seconds 3] [--concurrency 64] [--keys 1000] [--write-ratio 0.1]
// Uses its own schema and key prefix (klbench_<random>) and removes both afterwards.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createEngine, STRATEGY_NAMES } from '../dist/baselines.js';
import { createItems, ensureItemsTable } from '../dist/items/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    keys: { type: 'string', default: '1000' },
    'write-ratio': { type: 'string', default: '0.1' },
    lanes: { type: 'string', default: '8' },
    database: { type: 'string', default: process.env.KEYLANE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    redis: { type: 'string', default: process.env.KEYLANE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const keys = Number(values.keys);
const writeRatio = Number(values['write-ratio']);
const lanes = Number(values.lanes);
const name = `klbench_${randomBytes(4).toString('hex')}`;

// Skewed key choice: a few hot keys take most of the traffic, as real caches see.
const pickKey = () => BigInt(Math.floor(keys * Math.random() ** 3));

function percentile(sorted, p) {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function run(strategy) {
  await ensureItemsTable({ connectionString: values.database }, name);
  const engine = await createEngine({
    postgres: { connectionString: values.database },
    redis: { url: values.redis, keyPrefix: `${name}_${strategy}` },
    lanes,
    strategy,
  });
  const items = createItems(engine, { schema: name });
  try {
    const latencies = [];
    let errors = 0;
    const end = performance.now() + seconds * 1000;
    const worker = async () => {
      while (performance.now() < end) {
        const id = pickKey();
        const start = performance.now();
        try {
          if (Math.random() < writeRatio) await items.write(id, { at: start });
          else await items.read(id);
          latencies.push(performance.now() - start);
        } catch {
          errors += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    latencies.sort((a, b) => a - b);
    // Hot-key burst: one write, then 1000 concurrent reads of that key.
    await items.write(-1n, 'hot');
    const before = engine.stats().dbReads;
    await Promise.all(Array.from({ length: 1000 }, () => items.read(-1n)));
    const burstDbReads = engine.stats().dbReads - before;
    const s = engine.stats();
    return {
      strategy,
      'ops/s': Math.round(latencies.length / seconds),
      'p50 ms': percentile(latencies, 0.5).toFixed(2),
      'p99 ms': percentile(latencies, 0.99).toFixed(2),
      'hit %': ((100 * s.hits) / Math.max(1, s.reads)).toFixed(1),
      'DB reads': s.dbReads,
      'burst DB reads': burstDbReads,
      errors,
    };
  } finally {
    await engine.close();
  }
}

const rows = [];
try {
  for (const strategy of STRATEGY_NAMES) rows.push(await run(strategy));
} finally {
  const client = new pg.Client({ connectionString: values.database });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
  await client.end();
  const redis = new Redis(values.redis);
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `*${name}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.del(...found);
  } while (cursor !== '0');
  await redis.quit();
}
console.log(
  `${seconds}s per strategy, ${concurrency} concurrent callers, ${keys} keys (skewed), ` +
    `${writeRatio * 100}% writes, ${lanes} lanes; burst = 1000 concurrent reads of one just-written key`,
);
console.table(rows);
