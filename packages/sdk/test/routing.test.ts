import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { routingKey } from '@keylane/protocol';
import { createClient, createRouter, type KeylaneClient, type RoutingStrategy } from '../src/index.js';
import { RING_POINTS_PER_INSTANCE } from '../src/routing/consistent-ring.js';
import { PACKAGE_DIR, ensureBuilt } from './helpers/dist.js';
import { keyStream, startFleet, stopFleet, type ItemServer } from './helpers/item-server.js';

const KEYS = 100_000;
// These tests are about routing: probes must not time out on a loaded machine and drop an instance.
const HEALTH = { intervalMs: 200, timeoutMs: 5000 };
const SEED = 20_261_126n;
const STRATEGIES: RoutingStrategy[] = ['modulo', 'consistent'];
const IDS = ['item-1', 'item-2', 'item-3', 'item-4', 'item-5'];
const keys = [...keyStream(SEED, KEYS)].map((key) => routingKey(key));

function owners(strategy: RoutingStrategy, ids: readonly string[]): string[] {
  const router = createRouter(strategy);
  return keys.map((key) => router.pick(key, ids));
}

function fractionMoved(before: readonly string[], after: readonly string[]): number {
  let moved = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) moved++;
  return moved / before.length;
}

describe('two clients with the same instances in different orders', () => {
  let servers: ItemServer[];
  const clients: KeylaneClient[] = [];

  beforeAll(async () => {
    servers = await startFleet(5);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await stopFleet(servers);
  });

  const specs = () => servers.map((s) => ({ id: s.name, url: s.url }));

  it.each(STRATEGIES)('route 100,000 random keys identically (%s)', async (routing) => {
    const forward = createClient({ instances: specs(), routing, healthCheck: HEALTH });
    const shuffled = specs();
    shuffled.push(shuffled.shift()!, shuffled.shift()!);
    shuffled.reverse();
    const backward = createClient({ instances: shuffled, routing, healthCheck: HEALTH });
    clients.push(forward, backward);
    await Promise.all([forward.ready(), backward.ready()]);
    expect(forward.healthyInstances()).toEqual(IDS);
    expect(backward.healthyInstances()).toEqual(IDS);

    let disagreements = 0;
    const seen = new Map<string, string>();
    for (const key of keyStream(SEED, KEYS)) {
      const a = forward.getServiceConnection(key);
      const b = backward.getServiceConnection(key);
      if (a.instanceId !== b.instanceId) disagreements++;
      seen.set(a.instanceId, a.url);
    }
    expect(disagreements).toBe(0);
    expect([...seen.keys()].sort()).toEqual(IDS);
    for (const [id, url] of seen) expect(url).toBe(servers.find((s) => s.name === id)!.url);
  });

  it.each(STRATEGIES)('agree with a separate Node process (%s)', async (routing) => {
    ensureBuilt();
    const parent = createClient({ instances: specs(), routing, healthCheck: HEALTH });
    clients.push(parent);
    await parent.ready();
    const childInstances = specs().reverse();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        join(PACKAGE_DIR, 'test/fixtures/route-keys.mjs'),
        JSON.stringify({ instances: childInstances, routing, seed: SEED.toString(), count: KEYS }),
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const child = JSON.parse(stdout) as { healthy: string[]; owners: string[] };
    expect(child.healthy).toEqual(IDS);
    const mine = [...keyStream(SEED, KEYS)].map((key) => parent.getServiceConnection(key).instanceId);
    expect(child.owners).toHaveLength(KEYS);
    expect(fractionMoved(mine, child.owners)).toBe(0);
  });
});

describe('modulo', () => {
  it('routes the extreme keys exactly, as unsigned 64-bit values', () => {
    const router = createRouter('modulo');
    // 2^64 ≡ 1 (mod 5) and 2^63 ≡ 3 (mod 5).
    expect(router.pick(routingKey(-1n), IDS)).toBe('item-1'); // 2^64-1 ≡ 0
    expect(router.pick(routingKey(2n ** 63n - 1n), IDS)).toBe('item-3'); // ≡ 2
    expect(router.pick(routingKey(-(2n ** 63n)), IDS)).toBe('item-4'); // 2^63 ≡ 3
    expect(router.pick(routingKey(0n), IDS)).toBe('item-1');
    expect(router.pick(routingKey(-2n), IDS)).toBe('item-5'); // 2^64-2 ≡ 4
    for (const id of [-1n, 2n ** 63n - 1n, -(2n ** 63n), 1n, -2n, 123_456_789_012_345_678n]) {
      expect(router.pick(routingKey(id), IDS)).toBe(IDS[Number(BigInt.asUintN(64, id) % 5n)]);
    }
  });

  it('ignores the order of the ids (and the unsorted variant does not)', () => {
    const reversed = [...IDS].reverse();
    expect(fractionMoved(owners('modulo', IDS), owners('modulo', reversed))).toBe(0);
    // The unsafe variant: modulo over the list as each caller happened to write it.
    const unsorted = (list: readonly string[]) => keys.map((key) => list[Number(key % BigInt(list.length))]!);
    const disagree = fractionMoved(unsorted(IDS), unsorted(reversed));
    console.log(`modulo over unsorted lists: callers disagree on ${(disagree * 100).toFixed(1)}% of keys`);
    expect(disagree).toBeGreaterThan(0.5);
  });

  it('rejects values that are not routing keys', () => {
    const router = createRouter('modulo');
    expect(() => router.pick(-1n, IDS)).toThrow(expect.objectContaining({ code: 'invalid_id' }));
    expect(() => router.pick(2n ** 64n, IDS)).toThrow(expect.objectContaining({ code: 'invalid_id' }));
    expect(() => router.pick(1n, [])).toThrow(expect.objectContaining({ code: 'no_healthy_instance' }));
  });
});

describe('consistent', () => {
  it('two processes build the same ring only because control points are derived from ids', () => {
    // The unsafe variant: consistent-hash's default control points come from Math.random.
    const ConsistentHash = createRequire(join(PACKAGE_DIR, 'package.json'))('consistent-hash') as new (options?: {
      range?: number;
    }) => { add(node: string, weight?: number): void; get(name: string): string };
    const randomRing = () => {
      const ring = new ConsistentHash();
      for (const id of IDS) ring.add(id, RING_POINTS_PER_INSTANCE);
      return ring;
    };
    const [a, b] = [randomRing(), randomRing()];
    const sample = keys.slice(0, 20_000).map(String);
    const randomDisagree = sample.filter((name) => a.get(name) !== b.get(name)).length / sample.length;
    const ours = fractionMoved(owners('consistent', IDS), owners('consistent', [...IDS].reverse()));
    console.log(
      `consistent-hash with random points: rings disagree on ${(randomDisagree * 100).toFixed(1)}% of keys; ` +
        `with id-derived points: ${(ours * 100).toFixed(1)}%`,
    );
    expect(randomDisagree).toBeGreaterThan(0.3);
    expect(ours).toBe(0);
  });

  it('spreads keys over the instances', () => {
    for (const strategy of STRATEGIES) {
      const counts = new Map<string, number>();
      for (const owner of owners(strategy, IDS)) counts.set(owner, (counts.get(owner) ?? 0) + 1);
      for (const id of IDS) {
        const share = (counts.get(id) ?? 0) / KEYS;
        expect(share).toBeGreaterThan(0.2 * 0.6);
        expect(share).toBeLessThan(0.2 * 1.4);
      }
    }
  });
});

describe('keys given as numbers', () => {
  it('route exactly like the same keys as bigints (the BigInt-free fast path)', async () => {
    const servers = await startFleet(1);
    const instances = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => ({ id, url: servers[0]!.url }));
    const clients = STRATEGIES.map((routing) =>
      createClient({ instances, routing, healthCheck: { intervalMs: 60_000 } }),
    );
    try {
      await Promise.all(clients.map((c) => c.ready()));
      const edges = [0, -0, 1, -1, 2 ** 32, -(2 ** 32), 2 ** 32 - 1, -(2 ** 32) - 1, 2 ** 53 - 1, -(2 ** 53 - 1)];
      const randoms = [...keyStream(99n, 20_000)].map((key) => Number(BigInt.asIntN(54, key)) % Number.MAX_SAFE_INTEGER);
      for (const client of clients) {
        let mismatches = 0;
        for (const id of [...edges, ...randoms]) {
          if (client.getServiceConnection(id).instanceId !== client.getServiceConnection(BigInt(id)).instanceId) {
            mismatches++;
          }
        }
        expect(mismatches).toBe(0);
      }
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await stopFleet(servers);
    }
  });
});

describe('losing one instance of five', () => {
  it('moves at most 1/5 + 5 points of keys with consistent, about 4/5 with modulo', () => {
    const lines: string[] = [];
    const consistentBefore = owners('consistent', IDS);
    const moduloBefore = owners('modulo', IDS);
    for (const lost of IDS) {
      const rest = IDS.filter((id) => id !== lost);
      const consistentAfter = owners('consistent', rest);
      const moduloMoved = fractionMoved(moduloBefore, owners('modulo', rest));
      const consistentMoved = fractionMoved(consistentBefore, consistentAfter);
      lines.push(
        `without ${lost}: consistent moved ${(consistentMoved * 100).toFixed(2)}%, modulo moved ${(moduloMoved * 100).toFixed(2)}%`,
      );
      expect(consistentMoved).toBeLessThanOrEqual(0.2 + 0.05);
      expect(moduloMoved).toBeGreaterThan(0.75);
      expect(moduloMoved).toBeLessThan(0.85);
      // Only the lost instance's keys move; everyone else keeps theirs.
      for (let i = 0; i < KEYS; i++) {
        if (consistentBefore[i] !== lost && consistentBefore[i] !== consistentAfter[i]) {
          throw new Error(`key ${keys[i]} moved from ${consistentBefore[i]} though ${lost} was lost`);
        }
      }
    }
    console.log(lines.join('\n'));
  });
});
