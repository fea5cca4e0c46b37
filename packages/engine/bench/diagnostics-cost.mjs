/* global process, performance, console */
// What the diagnostics channels cost the cache-hit path: entity.get of one cached key, against
// real Redis, with nobody subscribed, with a subscriber on the read channel, and (optionally)
// with an engine built from the code before the channels. A report, not a test. After
// `pnpm run build`:
//   node bench/diagnostics-cost.mjs [--ops 200000] [--concurrency 32] [--rounds 5] [--before <dist/index.js>]
// Rounds alternate the variants so drift is not charged to one of them; the figure is the
// median of the rounds, with [min-max].
import { tracingChannel } from 'node:diagnostics_channel';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { createEngine, ENGINE_CHANNELS } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '200000' },
    concurrency: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '5' },
    before: { type: 'string' },
    database: { type: 'string', default: process.env.KEYLANE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    redis: { type: 'string', default: process.env.KEYLANE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
});
const OPS = Number(values.ops);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);

async function start(create, prefix) {
  const engine = await create({
    postgres: { connectionString: values.database },
    redis: { url: values.redis, keyPrefix: prefix },
    lanes: 2,
  });
  const entity = engine.entity({ name: 'bench', load: async () => ({ n: 1 }) });
  await entity.get(1n); // miss, fill
  if ((await entity.get(1n)) === null) throw new Error('no hit');
  return { engine, entity };
}

/** ns per hit with CONCURRENCY reads in flight (autopipelined GETs), OPS in all. */
async function hits(entity) {
  let left = OPS;
  const worker = async () => {
    while (left-- > 0) await entity.get(1n);
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return ((performance.now() - began) * 1e6) / OPS;
}

const prefix = `klbench_dc_${process.pid}`;
const variants = [];
if (values.before) {
  const before = await import(pathToFileURL(resolve(values.before)).href);
  variants.push({ name: 'before the channels', ...(await start(before.createEngine, `${prefix}_b`)) });
}
variants.push({ name: 'channels, no subscriber', ...(await start(createEngine, `${prefix}_n`)) });
const subscribed = { name: 'channels, read subscribed', ...(await start(createEngine, `${prefix}_s`)) };
variants.push(subscribed);

const read = tracingChannel(ENGINE_CHANNELS.read);
let seen = 0;
const handlers = { start() { seen += 1; }, end() {}, asyncStart() {}, asyncEnd() {}, error() {} };
const results = new Map(variants.map((v) => [v.name, []]));
for (const v of variants) await hits(v.entity); // warm up every variant once
for (let round = 0; round < ROUNDS; round += 1) {
  for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
    if (v === subscribed) read.subscribe(handlers);
    results.get(v.name).push(await hits(v.entity));
    if (v === subscribed) read.unsubscribe(handlers);
  }
}
if (seen < OPS * ROUNDS) throw new Error(`the subscriber saw ${seen} reads`);

// The check alone, in a tight loop (in a function, so it is optimized like the engine's code):
// what an unsubscribed call pays per channel. The best of 3.
function checkCost(channel, n) {
  let count = 0;
  const began = performance.now();
  for (let i = 0; i < n; i += 1) if (channel.hasSubscribers) count += 1;
  if (count !== 0) throw new Error('subscribed');
  return ((performance.now() - began) * 1e6) / n;
}
const check = tracingChannel(ENGINE_CHANNELS.miss);
const checkNs = Math.min(...[0, 1, 2].map(() => checkCost(check, 20_000_000)));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`entity.get of a cached key, ${OPS} hits x ${ROUNDS} rounds, ${CONCURRENCY} in flight, node ${process.versions.node}`);
for (const [name, xs] of results) {
  console.log(`${name.padEnd(28)} ${median(xs).toFixed(0).padStart(6)} ns/op  [${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}]`);
}
console.log(`TracingChannel.hasSubscribers, unsubscribed: ${checkNs.toFixed(2)} ns per check`);
for (const v of variants) await v.engine.close();
