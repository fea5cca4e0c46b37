/* global process, performance, console */
// Prints the SDK's keylane:sdk:request spans for a put and two gets against a running fleet.
// After `pnpm run build`: KEYLANE_URLS=http://127.0.0.1:7311 node examples/diagnostics.mjs
import { tracingChannel } from 'node:diagnostics_channel';
import { createClient, SDK_CHANNELS } from '@keylane/sdk';

const began = new WeakMap();
tracingChannel(SDK_CHANNELS.request).subscribe({
  start: (ctx) => began.set(ctx, performance.now()),
  end: () => {},
  asyncStart: () => {},
  asyncEnd: (ctx) => {
    const { method, key, instance, attempt, requestId, outcome, status, code } = ctx;
    const ms = (performance.now() - began.get(ctx)).toFixed(2);
    console.log(`${method} ${key} -> ${instance} attempt ${attempt} ${outcome} ${status ?? '-'}${code ? ` ${code}` : ''} ${ms} ms x-request-id=${requestId}`);
  },
  error: () => {},
});

const client = createClient({ instances: (process.env.KEYLANE_URLS ?? 'http://127.0.0.1:7311').split(',') });
await client.ready();
await client.put(42n, { hello: 'world' }, { requestId: 'example-put-42' });
await client.get(42n);
await client.put(42n, 'stale', { ifVersion: 99 }).catch(() => undefined);
await client.close();
