import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, type RoutingStrategy } from '@keylane/sdk';

export const ROUTING_SIZES = [3, 16, 128] as const;
export const ROUTING_STRATEGIES: readonly RoutingStrategy[] = ['modulo', 'consistent'];

export interface RoutingMeasurement {
  instances: number;
  strategy: RoutingStrategy;
  /** Wall-clock ns per getServiceConnection (median of the samples). */
  wallNs: number;
  /** This process's CPU ns per call: what preemption by other jobs does not inflate. */
  cpuNs: number;
}

const KEYS = 65_536;

/**
 * ns per `getServiceConnection` with bigint keys, the same loop as packages/sdk/bench/routing.ts
 * (a real client whose instances all point at one local server, a warm-up, then the median of
 * `samples` timed runs of `calls` calls), run against the SDK's built output.
 */
export async function measureRouting(
  calls: number,
  samples: number,
): Promise<RoutingMeasurement[]> {
  const server = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let state = 0x1234_5678n;
  const keys = Array.from({ length: KEYS }, () => {
    state = BigInt.asUintN(64, state * 6364136223846793005n + 1442695040888963407n);
    return BigInt.asIntN(64, state);
  });
  const out: RoutingMeasurement[] = [];
  try {
    for (const size of ROUTING_SIZES) {
      for (const strategy of ROUTING_STRATEGIES) {
        const client = createClient({
          instances: Array.from({ length: size }, (_, i) => ({ id: `item-${i + 1}`, url })),
          routing: strategy,
          connectionsPerInstance: 1,
          healthCheck: { intervalMs: 60_000 },
        });
        try {
          await client.ready();
          let sink = 0;
          const run = (): [number, number] => {
            const cpu = process.cpuUsage();
            const started = process.hrtime.bigint();
            for (let i = 0; i < calls; i++)
              sink += client.getServiceConnection(keys[i & (KEYS - 1)]!).instanceId.length;
            const wall = Number(process.hrtime.bigint() - started) / calls;
            const used = process.cpuUsage(cpu);
            return [wall, ((used.user + used.system) * 1000) / calls];
          };
          run();
          const taken = Array.from({ length: samples }, run);
          const median = (values: number[]): number =>
            values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
          if (sink === 0) throw new Error('routing loop was optimized away');
          out.push({
            instances: size,
            strategy,
            wallNs: median(taken.map(([w]) => w)),
            cpuNs: median(taken.map(([, c]) => c)),
          });
        } finally {
          await client.close();
        }
      }
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return out;
}
