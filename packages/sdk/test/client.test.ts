import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MAX_LONG_ID, MIN_LONG_ID } from '@keylane/protocol';
import {
  InvalidKeyError,
  KeylaneError,
  OverloadedError,
  RequestTimeoutError,
  ServiceError,
  UnavailableError,
  VersionConflictError,
  createClient,
  type KeylaneClient,
} from '../src/index.js';
import type { ServerResponse } from 'node:http';
import { fail, startFleet, stopFleet, waitFor, type ItemServer } from './helpers/item-server.js';

let servers: ItemServer[];
let client: KeylaneClient;

beforeAll(async () => {
  servers = await startFleet(3);
  client = createClient({
    instances: servers.map((s) => s.url),
    healthCheck: { intervalMs: 200, timeoutMs: 5000 },
    requestTimeoutMs: 1000,
  });
  await client.ready();
});
afterAll(async () => {
  await client.close();
  await stopFleet(servers);
});

const ownerOf = (id: bigint | number | string) => servers.find((s) => s.url === client.getServiceConnection(id).url)!;

describe('the hot path of a safe-integer id', () => {
  it('put, get and delete of a number id make no BigInt: routing takes the integer path (the owner is the same)', async () => {
    const id = 31_337;
    const RealBigInt = globalThis.BigInt;
    let made = 0;
    const counted: string[] = [];
    // Counts the BigInt(...) calls made while the client's calls run.
    globalThis.BigInt = new Proxy(RealBigInt, {
      apply(target, thisArg, args: [string | number | bigint | boolean]) {
        // The stand-in servers run in this process and parse ids their own way: not counted.
        // Read from the whole stack: its frame sits under the HTTP parser's, close to the
        // default 10, and CI once counted its parse of each of the 3 requests. Match src or
        // dist: jest source-maps the frames to src/ when it has the map, dist/ when not.
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = Infinity;
        const stack = new Error().stack ?? '';
        Error.stackTraceLimit = limit;
        if (!/harness\/(src|dist)\/item-stand-in\.(ts|js)/.test(stack)) {
          made += 1;
          counted.push(stack);
        }
        return Reflect.apply(target, thisArg, args);
      },
    });
    try {
      await client.put(id, 'counted');
      expect((await client.get(id))?.value).toBe('counted');
      expect(await client.delete(id)).toBe(true);
    } finally {
      globalThis.BigInt = RealBigInt;
    }
    // Where any counted one came from, for whoever reads a failure.
    if (made > 0) console.error(counted.join('\n---\n'));
    expect(made).toBe(0);
    // The same owner as the BigInt path would have picked.
    expect(client.getServiceConnection(id).instanceId).toBe(client.getServiceConnection(BigInt(id)).instanceId);
    expect(ownerOf(id).url).toBe(client.getServiceConnection(id).url);
  });
});

describe('item operations', () => {
  it('put, get and delete round-trip on the owning instance, for the extreme 64-bit ids', async () => {
    for (const id of [MIN_LONG_ID, -1n, 0n, 42n, MAX_LONG_ID]) {
      const text = id.toString();
      await expect(client.get(id)).resolves.toBeNull();
      await expect(client.put(text, { name: 'x' })).resolves.toEqual({ id: text, value: { name: 'x' }, version: 1 });
      await expect(client.put(id, { name: 'y' }, { ifVersion: 1 })).resolves.toEqual({
        id: text,
        value: { name: 'y' },
        version: 2,
      });
      await expect(client.get(text)).resolves.toEqual({ id: text, value: { name: 'y' }, version: 2 });
      expect(ownerOf(id).items.get(text)?.version).toBe(2);
      expect(servers.filter((s) => s.items.has(text))).toHaveLength(1);
      await expect(client.delete(id)).resolves.toBe(true);
      await expect(client.delete(id)).resolves.toBe(false);
    }
    await expect(client.put(42, 'z')).resolves.toMatchObject({ id: '42', version: 1 });
  });

  it('names the instance it chose: instance ids default to the URL', () => {
    const conn = client.getServiceConnection('42');
    expect(conn.instanceId).toBe(conn.url);
    expect(client.healthyInstances()).toEqual(servers.map((s) => s.url).sort());
    expect(client.getServiceConnection(42)).toBe(conn); // the same object, nothing allocated
  });

  it('hands out the instance pool as a dispatcher callers can use directly', async () => {
    const { dispatcher } = client.getServiceConnection(7n);
    const response = await dispatcher.request({ method: 'GET', path: '/healthz/ready' });
    expect(response.statusCode).toBe(200);
    expect(await response.body.json()).toMatchObject({ status: 'ready', instance: ownerOf(7n).name });
  });
});

describe('string keys', () => {
  // The protocol's routing vectors (packages/protocol/test/string-key.test.ts), pinned here too.
  const vectors: readonly (readonly [string, bigint])[] = [
    ['550e8400-e29b-41d4-a716-446655440000', 11793205509806541490n],
    ['alice@example.com', 18414541688758211263n],
    ['007', 7106483370208201996n],
    ['ü', 6950308537068853028n],
    ['42', 42n],
    ['-1', 18446744073709551615n],
  ];

  it.each(vectors)('routes %j to instance routingKey mod n of the sorted ids (%s)', (key, routing) => {
    const sorted = client.healthyInstances();
    expect(sorted).toHaveLength(3);
    expect(client.getServiceConnection(key).instanceId).toBe(sorted[Number(routing % 3n)]);
  });

  it('routes a canonical decimal string like the long it spells', () => {
    for (const id of [0n, 42n, -1n, MIN_LONG_ID, MAX_LONG_ID]) {
      expect(client.getServiceConnection(id.toString())).toBe(client.getServiceConnection(id));
    }
  });
});

describe('errors', () => {
  it('rejects bad ids before sending anything', async () => {
    const before = servers.map((s) => s.seen.GET + s.seen.PUT + s.seen.DELETE);
    for (const bad of ['007', 1.5, 2n ** 63n, '', ' 7', 2 ** 53]) {
      await expect(client.get(bad as never)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(client.put(bad as never, 1)).rejects.toMatchObject({ code: 'invalid_id' });
    }
    // Routing alone takes string keys too ('007' and ' 7' are strings, not long ids), but not
    // what is neither a long nor a valid string key.
    for (const bad of [1.5, 2n ** 63n, '', 2 ** 53, 'a\ud800']) {
      expect(() => client.getServiceConnection(bad as never)).toThrow(InvalidKeyError);
    }
    await expect(client.put(1n, undefined)).rejects.toMatchObject({ code: 'invalid_value', path: '$' });
    await expect(client.put(1n, 1, { ifVersion: -1 })).rejects.toMatchObject({ code: 'invalid_options', option: 'ifVersion' });
    expect(servers.map((s) => s.seen.GET + s.seen.PUT + s.seen.DELETE)).toEqual(before);
  });

  it('maps 409 to VersionConflictError', async () => {
    await client.put(100n, 'a');
    const error = await client.put(100n, 'b', { ifVersion: 5 }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(VersionConflictError);
    expect(error).toBeInstanceOf(KeylaneError);
    // The stand-in answers as the service does, with the version it found (the item
    // service's contract test holds it to that); before, it left actualVersion out.
    expect(error).toMatchObject({ code: 'version_conflict', expectedVersion: 5, actualVersion: 1 });
    expect((error as Error).message).toBe('item 100 is at version 1, not 5');
    const created = await client.put(101n, 'new', { ifVersion: 0 });
    expect(created.version).toBe(1);
    await expect(client.put(101n, 'again', { ifVersion: 0 })).rejects.toMatchObject({ code: 'version_conflict' });
  });

  it('maps 503 overloaded (with Retry-After) and 503 unavailable; other answers become ServiceError', async () => {
    const owner = ownerOf(200n);
    const answers = [
      (res: ServerResponse) => fail(res, 'overloaded', 'lane 3 is full', { 'retry-after': '2' }),
      (res: ServerResponse) => fail(res, 'unavailable', 'redis is down'),
      (res: ServerResponse) => fail(res, 'invalid_body', 'no value'),
      (res: ServerResponse) => {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>bad gateway</h1>');
      },
    ];
    const errors: unknown[] = [];
    for (const answer of answers) {
      owner.intercept = (req, res) => {
        if (req.url?.startsWith('/v1/items/') !== true) return false;
        answer(res);
        return true;
      };
      errors.push(await client.put(200n, 'v').catch((err: unknown) => err));
    }
    owner.intercept = null;
    expect(errors[0]).toBeInstanceOf(OverloadedError);
    expect(errors[0]).toMatchObject({ code: 'overloaded', retryAfterMs: 2000, message: 'lane 3 is full' });
    expect(errors[1]).toBeInstanceOf(UnavailableError);
    expect(errors[1]).toMatchObject({ code: 'unavailable', message: 'redis is down' });
    expect(errors[2]).toBeInstanceOf(ServiceError);
    expect(errors[2]).toMatchObject({ code: 'service_error', status: 400, serviceCode: 'invalid_body' });
    expect(errors[3]).toMatchObject({ code: 'service_error', status: 502, serviceCode: null });
    expect((errors[3] as Error).message).toContain('<h1>bad gateway</h1>');
  });

  it('times out with RequestTimeoutError, and a caller signal aborts with its own reason', async () => {
    const owner = ownerOf(300n);
    owner.intercept = (req) => req.url?.startsWith('/v1/items/') === true; // never answers
    const started = performance.now();
    const error = await client.get(300n).catch((err: unknown) => err);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect(error).toMatchObject({ code: 'request_timeout', timeoutMs: 1000, instanceId: owner.url });
    expect(elapsed).toBeGreaterThanOrEqual(990);

    const controller = new AbortController();
    const pending = client.get(300n, { signal: controller.signal });
    const reason = new Error('caller gave up');
    setTimeout(() => controller.abort(reason), 20);
    await expect(pending).rejects.toBe(reason);
    await expect(client.get(300n, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    owner.intercept = null;
    // Timeouts are not connection failures: the instance stays healthy.
    expect(client.healthyInstances()).toContain(owner.url);
  });
});

describe('an abort while the request waits for a connection', () => {
  it('rejects with the caller\'s reason and sends nothing once the connection frees', async () => {
    // One connection per instance: a second call to the same owner queues inside undici until
    // the first is answered, and its abort is seen only when it would have been sent.
    const single = createClient({
      instances: servers.map((s) => s.url),
      healthCheck: { intervalMs: 60_000, timeoutMs: 5000 },
      requestTimeoutMs: 5000,
      connectionsPerInstance: 1,
    });
    await single.ready();
    const owner = ownerOf(400n);
    let other = 401n;
    while (ownerOf(other) !== owner) other += 1n;
    const seen: string[] = [];
    let release: (() => void) | undefined;
    owner.intercept = (req, res) => {
      if (!req.url?.startsWith('/v1/items/')) return false;
      seen.push(req.url);
      if (release !== undefined) return false;
      release = () => fail(res, 'not_found', 'no such item');
      return true; // held until released
    };
    try {
      const first = single.get(400n);
      await waitFor(() => release !== undefined, 2000);
      const controller = new AbortController();
      const queued = single.get(other, { signal: controller.signal });
      const reason = new Error('gave up while queued');
      controller.abort(reason);
      release!();
      await expect(first).resolves.toBeNull();
      await expect(queued).rejects.toBe(reason);
      expect(seen).toEqual(['/v1/items/400']);
    } finally {
      owner.intercept = null;
      await single.close();
    }
  });
});

describe('stats', () => {
  it('reports state, counters and undici pool stats per instance', async () => {
    // Aborted requests above release their connection asynchronously, and the instance that
    // answered two 5xx in a row may still be proving itself healthy again.
    await waitFor(
      () => client.stats().instances.every((i) => i.pool.running + i.pool.pending === 0 && i.state === 'healthy'),
      5000,
    );
    const stats = client.stats();
    expect(stats.routing).toBe('modulo');
    expect(stats.healthy).toHaveLength(3);
    for (const instance of stats.instances) {
      expect(instance).toMatchObject({
        state: 'healthy',
        consecutiveFailures: 0,
        probes: { failed: 0 },
        // The 5xx answers above count against the instance that gave them.
        lastFailure: instance.url === ownerOf(200n).url ? 'PUT answered 502 (service_error)' : null,
        pool: { connected: expect.any(Number), running: 0, pending: 0 },
      });
      expect(instance.probes.ok).toBeGreaterThan(0);
    }
    expect(stats.instances.reduce((n, i) => n + i.requests.ok, 0)).toBeGreaterThan(20);
  });
});
