// Reports ns per getServiceConnection of @keylane/sdk for 3, 16 and 128 healthy instances and
// each routing strategy, bigint and number keys. A script, not a test: `pnpm run bench:routing`
// in packages/bench. The loop is measure-routing.ts, which `keylane bench` runs too.
import { measureRouting, ROUTING_KEY_COUNT, type RoutingTiming } from './measure-routing.js';

const CALLS = 2_000_000;
const SAMPLES = 5;

const timings = await measureRouting({
  keyTypes: ['bigint', 'number'],
  calls: CALLS,
  samples: SAMPLES,
});

const cell = (t: RoutingTiming | undefined): string =>
  (t ? `${t.wallNs.toFixed(0)} / ${t.cpuNs.toFixed(0)}` : '-').padStart(12);

console.log(
  `node ${process.version}, ${CALLS} calls per run, median of ${SAMPLES} runs, ${ROUTING_KEY_COUNT} random keys`,
);
console.log('ns per getServiceConnection, wall / cpu');
console.log('instances  strategy     bigint key   number key');
for (const { instances, strategy } of timings.filter((t) => t.keyType === 'bigint')) {
  const of = (keyType: RoutingTiming['keyType']) =>
    timings.find(
      (t) => t.instances === instances && t.strategy === strategy && t.keyType === keyType,
    );
  console.log(
    `${String(instances).padStart(9)}  ${strategy.padEnd(10)} ${cell(of('bigint'))} ${cell(of('number'))}`,
  );
}
