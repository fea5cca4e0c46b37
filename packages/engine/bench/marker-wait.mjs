/* global process, performance, console */
// What `redis.markerReplicas` costs a write, on a real Redis Cluster on loopback (3 masters,
// one replica each, started here) and the local Postgres: the items entity's write, one at a
// time (latency) and 32 at once on distinct keys (throughput), with markerReplicas 0 and 1 in
// alternating rounds; then the Redis side alone, a marker's begin and end scripts, without and
// with the WAIT, so the DB's share does not hide it. A report, not a test. Run after `pnpm run build`:
//   node bench/marker-wait.mjs [--writes 2000] [--rounds 3]
import pg from 'pg';
import { parseArgs } from 'node:util';
import { startRedisCluster } from '@keylane/harness';
import { Cache, newToken } from '../dist/cache/cache.js';
import { hashTag } from '../dist/cache/keys.js';
import { createEngine } from '../dist/index.js';
import { createItems, ensureItemsTable } from '../dist/items/index.js';

const { values } = parseArgs({
  options: {
    writes: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    database: { type: 'string', default: process.env.KEYLANE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const N = Number(values.writes);
const schema = `kl_marker_wait_${process.pid}`;
const admin = new pg.Client({ connectionString: values.database });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);
await ensureItemsTable({ connectionString: values.database }, schema);
const cluster = await startRedisCluster();
const opened = [];
async function itemsWith(markerReplicas) {
  const client = cluster.client({ lazyConnect: true, enableOfflineQueue: false });
  const engine = await createEngine({
    postgres: { connectionString: values.database },
    redis: { client, keyPrefix: `mw${markerReplicas}`, ...(markerReplicas > 0 ? { markerReplicas } : {}) },
    lanes: 16,
  });
  opened.push({ engine, client });
  return createItems(engine, { schema });
}
async function cacheWith(replicas) {
  const client = cluster.client({ lazyConnect: true, enableOfflineQueue: false });
  const cache = new Cache({
    redis: { kind: 'client', client, markerReplication: { replicas, timeoutMs: 100 } },
    leaseTtlMs: 5_000,
    markerTtlMs: 10_000,
    onError: () => undefined,
  });
  await cache.start();
  opened.push({ engine: cache, client });
  return cache;
}
const markers = { 'begin + end, no WAIT': await cacheWith(0), 'begin + WAIT 1 + end': await cacheWith(1) };
const variants = { 'markerReplicas 0': await itemsWith(0), 'markerReplicas 1 (WAIT 1)': await itemsWith(1) };
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
try {
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [name, items] of Object.entries(variants)) {
      for (let i = 0; i < 200; i++) await items.write(i % 100, { round, i });
      const took = [];
      for (let i = 0; i < N; i++) {
        const t = performance.now();
        await items.write(i % 100, { round, i });
        took.push(performance.now() - t);
      }
      took.sort((a, b) => a - b);
      let next = 0;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: 32 }, async (_, w) => {
          while (next < N) {
            next += 1;
            await items.write(1_000 + w, { round, next });
          }
        }),
      );
      const perSecond = (N / (performance.now() - t)) * 1000;
      console.log(
        round,
        name.padEnd(27),
        `one at a time: p50 ${pct(took, 0.5).toFixed(2)} ms, p99 ${pct(took, 0.99).toFixed(2)} ms;`,
        `32 concurrent: ${perSecond.toFixed(0)} writes/s`,
      );
    }
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [name, cache] of Object.entries(markers)) {
      const took = [];
      for (let i = 0; i < N + 200; i++) {
        const tag = hashTag('mwc', 't', String(i % 100));
        const token = newToken();
        const t = performance.now();
        await cache.beginWrite(tag, token);
        await cache.endWrite(tag, token, true, undefined, 60_000);
        if (i >= 200) took.push(performance.now() - t);
      }
      took.sort((a, b) => a - b);
      console.log(round, name.padEnd(27), `Redis only: p50 ${(pct(took, 0.5) * 1000).toFixed(0)} µs, p99 ${(pct(took, 0.99) * 1000).toFixed(0)} µs`);
    }
  }
} finally {
  for (const { engine, client } of opened) {
    await engine.close();
    await client.quit();
  }
  await cluster.stop();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
