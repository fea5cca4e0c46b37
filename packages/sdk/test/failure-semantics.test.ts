import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DEADLINE_HEADER } from '@keylane/protocol';
import {
  DeadlineExceededError,
  InvalidValueError,
  OutcomeUnknownError,
  createClient,
  type KeylaneClient,
} from '../src/index.js';
import { fail, keyStream, startFleet, stopFleet, type ItemServer } from './helpers/item-server.js';

let servers: ItemServer[];
let client: KeylaneClient;
let events: string[];

beforeEach(async () => {
  servers = await startFleet(3);
  events = [];
  client = createClient({
    instances: servers.map((s) => ({ id: s.name, url: s.url })),
    // Slow probes: only the client's own evidence can change routing in these tests.
    healthCheck: { intervalMs: 60_000, timeoutMs: 1000 },
    requestTimeoutMs: 1500,
  });
  client.on('instance-down', (id, reason) => events.push(`down ${id}: ${reason}`));
  await client.ready();
});
afterEach(async () => {
  await client.close();
  await stopFleet(servers);
});

const server = (id: string) => servers.find((s) => s.name === id)!;
const ownedBy = (id: string) => [...keyStream(3n, 2000)].find((k) => client.getServiceConnection(k).instanceId === id)!;

describe('deadlines', () => {
  it('sends each request its absolute deadline: the start plus requestTimeoutMs', async () => {
    const seen: string[] = [];
    for (const s of servers) {
      s.intercept = (req) => {
        seen.push(String(req.headers[DEADLINE_HEADER]));
        return false;
      };
    }
    const before = Date.now();
    await client.put(1n, 'x');
    await client.get(1n);
    const after = Date.now();
    expect(seen).toHaveLength(2);
    for (const header of seen) {
      expect(header).toMatch(/^\d+$/);
      expect(Number(header)).toBeGreaterThanOrEqual(before + 1500);
      expect(Number(header)).toBeLessThanOrEqual(after + 1500);
    }
  });
});

describe('honest outcomes', () => {
  it('tells "may have committed" from "nothing committed", and neither marks the instance down', async () => {
    const key = ownedBy('item-1');
    server('item-1').intercept = (req, res) => {
      if (req.method !== 'PUT') return false;
      fail(res, 'outcome_unknown', 'postgres connection failed while COMMIT was in flight');
      return true;
    };
    const unknown = await client.put(key, 'a').catch((err: unknown) => err);
    expect(unknown).toBeInstanceOf(OutcomeUnknownError);
    expect(unknown).toMatchObject({ code: 'outcome_unknown' });
    server('item-1').intercept = (req, res) => {
      if (req.method !== 'PUT') return false;
      fail(res, 'deadline_exceeded', 'the deadline passed before the work could be done');
      return true;
    };
    for (let i = 0; i < 6; i++) {
      await expect(client.put(key, 'b')).rejects.toBeInstanceOf(DeadlineExceededError);
    }
    expect(events).toEqual([]);
  });
});

describe('values JSON cannot carry', () => {
  it.each<[string, unknown, string]>([
    ['NaN', { a: Number.NaN }, '$.a'],
    ['Infinity', [1, Number.POSITIVE_INFINITY], '$[1]'],
    ['an undefined member', { a: { b: undefined } }, '$.a.b'],
    ['a Map', { m: new Map() }, '$.m'],
    ['a Set', new Set([1]), '$'],
    ['a Date', { at: new Date(0) }, '$.at'],
    ['a function', { f: () => 1 }, '$.f'],
    ['a bigint', { n: 1n }, '$.n'],
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point
    ['a hole', { 'weird key': [1, , 3] }, '$["weird key"][1]'],
  ])('refuses %s with InvalidValueError naming where, before sending', async (_name, value, path) => {
    const seen = servers.reduce((n, s) => n + s.seen.PUT, 0);
    const err = await client.put(7n, value).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidValueError);
    expect(err).toMatchObject({ code: 'invalid_value', path });
    expect(servers.reduce((n, s) => n + s.seen.PUT, 0)).toBe(seen);
  });

  it('refuses a cycle, and takes what JSON carries as it is', async () => {
    const cycle: Record<string, unknown> = {};
    cycle['me'] = cycle;
    await expect(client.put(7n, cycle)).rejects.toMatchObject({ code: 'invalid_value' });
    const value = { s: 'x', n: -1.5, b: false, z: null, list: [{ deep: ['ok'] }], proto: Object.create(null) as object };
    expect((await client.put(7n, value)).value).toEqual(JSON.parse(JSON.stringify(value)));
  });
});

describe('an instance marked down while reads are in flight to it', () => {
  it('reroutes those reads to the new owner instead of waiting out the deadline', async () => {
    const probing = createClient({
      instances: servers.map((s) => ({ id: s.name, url: s.url })),
      healthCheck: { intervalMs: 100, timeoutMs: 500, unhealthyThreshold: 2 },
      requestTimeoutMs: 3000,
    });
    try {
      await probing.ready();
      const key = [...keyStream(3n, 2000)].find((k) => probing.getServiceConnection(k).instanceId === 'item-2')!;
      const owner = server('item-2');
      // item-2 takes the reads and never answers them (a stalled process, say)...
      const hanging: (() => void)[] = [];
      owner.intercept = (req, res) => {
        if (req.method !== 'GET' || req.url?.startsWith('/v1/items/') !== true) return false;
        hanging.push(() => res.destroy());
        return true;
      };
      const started = performance.now();
      const reads = Array.from({ length: 5 }, () => probing.get(key));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(hanging).toHaveLength(5);
      // ...and then its readiness fails (draining): the probes mark it down.
      owner.failReady = true;
      const results = await Promise.all(reads);
      const waited = performance.now() - started;
      expect(results).toEqual(Array(5).fill(null));
      expect(probing.healthyInstances()).not.toContain('item-2');
      // Answered by the key's new owner, well before the 3 s deadline.
      expect(servers.filter((s) => s.name !== 'item-2').reduce((n, s) => n + s.seen.GET, 0)).toBe(5);
      expect(waited).toBeLessThan(2000);
      for (const destroy of hanging) destroy();
    } finally {
      await probing.close();
    }
  });
});

describe('a dependency every instance shares is away (readiness 503 degraded everywhere)', () => {
  it('routes among the degraded instances when none is healthy, and prefers a healthy one when there is', async () => {
    const probing = createClient({
      instances: servers.map((s) => ({ id: s.name, url: s.url })),
      healthCheck: { intervalMs: 50, timeoutMs: 500, unhealthyThreshold: 1 },
      requestTimeoutMs: 1000,
    });
    try {
      await probing.ready();
      for (const s of servers) s.items.set('9', { id: '9', value: s.name, version: 1 });
      for (const s of servers) s.degraded = true;
      for (let i = 0; i < 100 && probing.stats().instances.some((x) => x.state === 'healthy'); i++) await sleep(20);
      // Nobody is healthy, yet reads still go somewhere that can serve them (cache hits while
      // Postgres is away), the same instance for the same key in every caller.
      expect(probing.stats().instances.every((x) => x.state === 'unhealthy')).toBe(true);
      expect(probing.healthyInstances()).toEqual(['item-1', 'item-2', 'item-3']);
      expect(await probing.get(9n)).toMatchObject({ id: '9' });
      // One instance recovers: it takes every key.
      server('item-3').degraded = false;
      for (let i = 0; i < 100 && !probing.stats().instances.some((x) => x.state === 'healthy'); i++) await sleep(20);
      expect(probing.healthyInstances()).toEqual(['item-3']);
      expect(await probing.get(9n)).toMatchObject({ value: 'item-3' });
      // A draining instance (503, not degraded) is never a fallback.
      server('item-1').degraded = false;
      server('item-1').failReady = true;
      server('item-3').degraded = true;
      for (let i = 0; i < 100 && probing.stats().instances.some((x) => x.state === 'healthy'); i++) await sleep(20);
      expect(probing.healthyInstances()).toEqual(['item-2', 'item-3']);
    } finally {
      await probing.close();
    }
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
