/* global process, performance, console */
// What the commit fence costs one transaction on one connection, beside a plain transaction and
// a single autocommit statement. A report, not a test. Run after `pnpm run build`:
//   node bench/fence-cost.mjs [--transactions 3000]
import pg from 'pg';
import { parseArgs } from 'node:util';
import { FENCE_SETUP, fencedCommit, beginWithin } from '../dist/db/fence.js';
const { values } = parseArgs({
  options: {
    transactions: { type: 'string', default: '3000' },
    database: { type: 'string', default: process.env.KEYLANE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const c = new pg.Client({ connectionString: values.database });
await c.connect();
await c.query('DROP TABLE IF EXISTS public.kl_fence_cost; CREATE TABLE public.kl_fence_cost (id int PRIMARY KEY, v int); INSERT INTO public.kl_fence_cost VALUES (1, 0)');
await c.query(FENCE_SETUP);
const N = Number(values.transactions);
const variants = {
  'autocommit UPDATE (one statement)': async () => { await c.query('UPDATE public.kl_fence_cost SET v = v + 1 WHERE id = $1', [1]); },
  'BEGIN; UPDATE; COMMIT': async () => { await c.query('BEGIN'); await c.query('UPDATE public.kl_fence_cost SET v = v + 1 WHERE id = $1', [1]); await c.query('COMMIT'); },
  'BEGIN + SET LOCAL; UPDATE; fence + COMMIT': async () => { await c.query(beginWithin(9000)); await c.query('UPDATE public.kl_fence_cost SET v = v + 1 WHERE id = $1', [1]); await c.query(fencedCommit(Date.now() + 9000)); },
};
for (let round = 0; round < 3; round++) for (const [name, run] of Object.entries(variants)) {
  for (let i = 0; i < 200; i++) await run();
  const t = performance.now();
  for (let i = 0; i < N; i++) await run();
  console.log(round, name.padEnd(45), ((performance.now() - t) * 1000 / N).toFixed(0), 'µs per transaction');
}
await c.query('DROP TABLE public.kl_fence_cost'); await c.end();
