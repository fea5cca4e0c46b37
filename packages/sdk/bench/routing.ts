// Reports ns per getServiceConnection for 3, 16 and 128 healthy instances and each routing
// strategy. A script, not a test: run `pnpm run bench` in packages/sdk.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, type RoutingStrategy } from '../src/index.js';

const SIZES = [3, 16, 128];
const STRATEGIES: RoutingStrategy[] = ['modulo', 'consistent'];
const KEYS = 65_536;
const CALLS = 2_000_000;
const RUNS = 5;

// Every instance id points at this one server: the bench measures routing, not HTTP.
const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

let state = 0x1234_5678n;
const keys = Array.from({ length: KEYS }, () => {
  state = BigInt.asUintN(64, state * 6364136223846793005n + 1442695040888963407n);
  return BigInt.asIntN(64, state);
});
// Safe integers of both signs, the other common way callers hold ids.
const numbers = keys.map((key) => Number(BigInt.asIntN(54, key)) % Number.MAX_SAFE_INTEGER);

console.log(`node ${process.version}, ${CALLS} calls per run, median of ${RUNS} runs, ${KEYS} random keys`);
console.log('ns per getServiceConnection, wall / cpu');
console.log('instances  strategy     bigint key   number key');
for (const size of SIZES) {
  for (const routing of STRATEGIES) {
    const client = createClient({
      instances: Array.from({ length: size }, (_, i) => ({ id: `item-${i + 1}`, url })),
      routing,
      connectionsPerInstance: 1,
      healthCheck: { intervalMs: 60_000 },
    });
    await client.ready();
    let sink = 0;
    // Wall time and this process's CPU time per call: on a shared machine the CPU figure is
    // the one other jobs' load does not inflate by preemption.
    const measure = (input: readonly (bigint | number)[]): string => {
      const run = (): [number, number] => {
        const cpu = process.cpuUsage();
        const started = process.hrtime.bigint();
        for (let i = 0; i < CALLS; i++) sink += client.getServiceConnection(input[i & (KEYS - 1)]!).instanceId.length;
        const wall = Number(process.hrtime.bigint() - started) / CALLS;
        const used = process.cpuUsage(cpu);
        return [wall, ((used.user + used.system) * 1000) / CALLS];
      };
      run(); // warm-up: let the JIT settle
      const samples = Array.from({ length: RUNS }, run);
      const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
      const wall = median(samples.map(([w]) => w));
      const cpu = median(samples.map(([, c]) => c));
      return `${wall.toFixed(0)} / ${cpu.toFixed(0)}`.padStart(12);
    };
    const [big, num] = [measure(keys), measure(numbers)];
    console.log(`${String(size).padStart(9)}  ${routing.padEnd(10)} ${big} ${num}${sink === 0 ? ' ?' : ''}`);
    await client.close();
  }
}
server.close();
