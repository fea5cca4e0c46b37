import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, InvalidOptionsError, type RoutingStrategy } from '@keylane/sdk';

/** How the keys are held: the SDK routes safe-integer numbers without BigInt arithmetic. */
export type RoutingKeyType = 'bigint' | 'number';

export interface MeasureRoutingOptions {
  /** Healthy instances per client. @default [3, 16, 128] */
  sizes?: readonly number[];
  /** @default ['modulo', 'consistent'] */
  strategies?: readonly RoutingStrategy[];
  /** Key representations to time, each over the same random ids. @default ['bigint'] */
  keyTypes?: readonly RoutingKeyType[];
  /** `getServiceConnection` calls per timed sample. @default 2_000_000 */
  calls?: number;
  /** Timed samples after one warm-up sample; the figures are their medians. @default 5 */
  samples?: number;
}

export const DEFAULT_MEASURE_ROUTING_OPTIONS = {
  sizes: [3, 16, 128],
  strategies: ['modulo', 'consistent'],
  keyTypes: ['bigint'],
  calls: 2_000_000,
  samples: 5,
} as const satisfies Required<MeasureRoutingOptions>;

export interface RoutingTiming {
  instances: number;
  strategy: RoutingStrategy;
  keyType: RoutingKeyType;
  /** Wall-clock ns per `getServiceConnection` (median of the samples). */
  wallNs: number;
  /** This process's CPU ns per call: what preemption by other jobs does not inflate. */
  cpuNs: number;
}

/** Random ids the loop cycles through; a power of two, so the index is a mask. */
export const ROUTING_KEY_COUNT = 65_536;

/**
 * ns per `getServiceConnection`: for each size and strategy a real client whose instances all
 * point at one local server (so this times routing, not HTTP), one warm-up sample to let the
 * JIT settle, then the median of `samples` timed samples of `calls` calls over random ids.
 * The loop behind `pnpm run bench:routing` here and the routing section of `keylane bench`.
 */
export async function measureRouting(
  options: MeasureRoutingOptions = {},
): Promise<RoutingTiming[]> {
  const { sizes, strategies, keyTypes, calls, samples } = {
    ...DEFAULT_MEASURE_ROUTING_OPTIONS,
    ...options,
  };
  for (const [name, value] of [
    ['calls', calls],
    ['samples', samples],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidOptionsError(name, `must be a positive integer, got ${String(value)}`);
    }
  }
  if (sizes.some((size) => !Number.isSafeInteger(size) || size < 1)) {
    throw new InvalidOptionsError('sizes', `must be positive integers, got ${sizes.join(', ')}`);
  }
  const keys = randomIds();
  const inputs: Record<RoutingKeyType, readonly (bigint | number)[]> = {
    bigint: keys,
    // Safe integers of both signs, the other common way callers hold ids.
    number: keys.map((key) => Number(BigInt.asIntN(54, key)) % Number.MAX_SAFE_INTEGER),
  };

  const server = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const out: RoutingTiming[] = [];
  try {
    for (const instances of sizes) {
      for (const strategy of strategies) {
        const client = createClient({
          instances: Array.from({ length: instances }, (_, i) => ({ id: `item-${i + 1}`, url })),
          routing: strategy,
          connectionsPerInstance: 1,
          healthCheck: { intervalMs: 60_000 },
        });
        try {
          await client.ready();
          for (const keyType of keyTypes) {
            const input = inputs[keyType];
            let sink = 0;
            const sample = (): [number, number] => {
              const cpu = process.cpuUsage();
              const started = process.hrtime.bigint();
              for (let i = 0; i < calls; i++) {
                sink += client.getServiceConnection(input[i & (ROUTING_KEY_COUNT - 1)]!).instanceId
                  .length;
              }
              const wall = Number(process.hrtime.bigint() - started) / calls;
              const used = process.cpuUsage(cpu);
              return [wall, ((used.user + used.system) * 1000) / calls];
            };
            sample();
            const taken = Array.from({ length: samples }, sample);
            // Every id is non-empty, so a zero sum means the loop did not run what it timed.
            if (sink === 0) throw new Error('the routing loop was optimized away');
            out.push({
              instances,
              strategy,
              keyType,
              wallNs: median(taken.map(([wall]) => wall)),
              cpuNs: median(taken.map(([, cpu]) => cpu)),
            });
          }
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

/** The same ids on every run: a fixed 64-bit LCG, both signs, the full range. */
function randomIds(): bigint[] {
  let state = 0x1234_5678n;
  return Array.from({ length: ROUTING_KEY_COUNT }, () => {
    state = BigInt.asUintN(64, state * 6364136223846793005n + 1442695040888963407n);
    return BigInt.asIntN(64, state);
  });
}

function median(values: number[]): number {
  return values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}
