/* global process, performance, console, setTimeout */
// One caller's write latency (the items entity) with Redis made `--delay` ms away each way by
// a delaying TCP proxy started here, against the local Postgres: what a Redis round trip costs
// a write, and what sending the begin script with BEGIN saves. A report, not a test. Run after
// `pnpm run build`:
//   node bench/write-latency.mjs [--delay 0.5] [--writes 600]
import net from 'node:net';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createEngine } from '../dist/index.js';
import { createItems, ensureItemsTable } from '../dist/items/index.js';

const { values } = parseArgs({
  options: {
    delay: { type: 'string', default: '0.5' },
    writes: { type: 'string', default: '600' },
    database: { type: 'string', default: process.env.KEYLANE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    redis: { type: 'string', default: '127.0.0.1:6379' },
  },
});
const DELAY = Number(values.delay);
const N = Number(values.writes);
const [redisHost, redisPort] = values.redis.split(':');
// Every chunk waits DELAY ms before it is passed on (setTimeout: at least ~1 ms in practice).
const proxy = net.createServer((client) => {
  const upstream = net.connect(Number(redisPort), redisHost);
  const pipe = (from, to) => from.on('data', (chunk) => setTimeout(() => to.write(chunk), DELAY));
  pipe(client, upstream);
  pipe(upstream, client);
  for (const [a, b] of [[client, upstream], [upstream, client]]) {
    a.on('error', () => b.destroy());
    a.on('close', () => b.destroy());
  }
});
await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const schema = `kl_write_latency_${process.pid}`;
await ensureItemsTable({ connectionString: values.database }, schema);
const engine = await createEngine({
  postgres: { connectionString: values.database },
  redis: { url: `redis://127.0.0.1:${proxy.address().port}`, keyPrefix: schema },
  lanes: 1,
});
try {
  const items = createItems(engine, { schema });
  for (let i = 0; i < 100; i++) await items.write(i % 50, { i });
  const latencies = [];
  for (let i = 0; i < N; i++) {
    const started = performance.now();
    await items.write(i % 50, { i });
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  const mean = latencies.reduce((a, b) => a + b, 0) / N;
  console.log(`redis +${DELAY} ms each way: ${N} writes, p50 ${latencies[Math.floor(N / 2)].toFixed(2)} ms, mean ${mean.toFixed(2)} ms`);
} finally {
  await engine.close();
  const admin = new pg.Client({ connectionString: values.database });
  await admin.connect();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
  proxy.close();
}
