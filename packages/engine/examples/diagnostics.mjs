/* global process, performance, console */
// Prints the engine's diagnostics events for one write and two reads (a hit, then a miss).
// After `pnpm run build`: node examples/diagnostics.mjs
import { tracingChannel } from 'node:diagnostics_channel';
import { createEngine, ENGINE_CHANNELS } from '@keylane/engine';

const began = new WeakMap();
for (const name of Object.values(ENGINE_CHANNELS)) {
  tracingChannel(name).subscribe({
    start: (ctx) => began.set(ctx, performance.now()),
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (ctx) => {
      const { engine: _engine, result: _result, error, ...fields } = ctx;
      const ms = (performance.now() - began.get(ctx)).toFixed(2);
      console.log(`${name.padEnd(28)} ${ms.padStart(6)} ms ${JSON.stringify(fields)}${error ? ` error: ${error.code ?? error.message}` : ''}`);
    },
    error: () => {},
  });
}

const engine = await createEngine({
  postgres: { connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
  redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: `example-${process.pid}` },
  lanes: 2,
});
const greetings = engine.entity({ name: 'greetings', load: async (db, id) => (await db.query('SELECT $1::text AS hello', [`row ${id}`])).rows[0] });
console.log('-- mutate');
await greetings.mutate(42n, async (tx, id) => (await tx.query('SELECT $1::text AS hello', [`row ${id}`])).rows[0]);
console.log('-- get (a hit: the write filled it)');
await greetings.get(42n);
await greetings.invalidate(42n);
console.log('-- get after invalidate (a miss)');
await greetings.get(42n);
await engine.close();
