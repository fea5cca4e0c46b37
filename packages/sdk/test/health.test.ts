import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createClient, type ClientOptions, type KeylaneClient } from '../src/index.js';
import { keyStream, fail, send, startFleet, stopFleet, waitFor, type ItemServer } from './helpers/item-server.js';

const INTERVAL_MS = 100;
// Generous: kills are detected by refused connects, and a loaded machine must not fail probes by itself.
const TIMEOUT_MS = 500;
const UNHEALTHY_THRESHOLD = 2;
// The bound for active detection; the slack absorbs a busy, shared 2-core machine.
const DETECTION_BOUND_MS = INTERVAL_MS * UNHEALTHY_THRESHOLD + TIMEOUT_MS;
const SLACK_MS = 1500;

let servers: ItemServer[];
let client: KeylaneClient | undefined;
let events: string[];

beforeEach(async () => {
  servers = await startFleet(5);
  events = [];
});
afterEach(async () => {
  await client?.close();
  client = undefined;
  await stopFleet(servers);
});

function connect(options: Partial<ClientOptions> = {}): KeylaneClient {
  client = createClient({
    instances: servers.map((s) => ({ id: s.name, url: s.url })),
    routing: 'consistent',
    healthCheck: { intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS, unhealthyThreshold: UNHEALTHY_THRESHOLD, healthyThreshold: 2 },
    ...options,
  });
  client.on('instance-up', (id) => events.push(`up ${id}`));
  client.on('instance-down', (id, reason) => events.push(`down ${id}: ${reason}`));
  return client;
}

const sample = [...keyStream(7n, 5000)];
const ownersOf = (c: KeylaneClient) => sample.map((key) => c.getServiceConnection(key).instanceId);
const server = (id: string) => servers.find((s) => s.name === id)!;

/** A key whose owner (with all five healthy) is `id`. */
function keyOwnedBy(c: KeylaneClient, id: string): bigint {
  return sample.find((key) => c.getServiceConnection(key).instanceId === id)!;
}

describe('active health checks', () => {
  it('mark a killed server down in time, reroute its keys, and bring it back after a restart', async () => {
    const c = connect();
    await c.ready();
    expect(events.sort()).toEqual(servers.map((s) => `up ${s.name}`).sort());
    events.length = 0;
    const before = ownersOf(c);

    const victim = servers[2]!;
    const killedAt = performance.now();
    await victim.kill();
    const downAfter = await waitFor(() => events.length > 0);
    const detectMs = performance.now() - killedAt;
    console.log(`killed ${victim.name}: marked down after ${detectMs.toFixed(0)} ms (bound ${DETECTION_BOUND_MS} ms + ${SLACK_MS} ms slack)`);
    expect(downAfter).toBeGreaterThanOrEqual(0);
    expect(detectMs).toBeLessThanOrEqual(DETECTION_BOUND_MS + SLACK_MS);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatch(new RegExp(`^down ${victim.name}: probe /healthz/ready failed: ECONNREFUSED`));
    expect(c.healthyInstances()).not.toContain(victim.name);

    const during = ownersOf(c);
    for (let i = 0; i < sample.length; i++) {
      if (before[i] === victim.name) expect(during[i]).not.toBe(victim.name);
      else expect(during[i]).toBe(before[i]); // consistent: nobody else's keys move
    }

    // Stays down, and says so once, while the server is gone.
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 5));
    expect(events).toHaveLength(1);

    await victim.listen();
    await waitFor(() => events.length > 1);
    expect(events[1]).toBe(`up ${victim.name}`);
    expect(ownersOf(c)).toEqual(before);
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 5));
    expect(events).toHaveLength(2);
    const stats = c.stats().instances.find((i) => i.id === victim.name)!;
    expect(stats.state).toBe('healthy');
    expect(stats.probes.failed).toBeGreaterThanOrEqual(UNHEALTHY_THRESHOLD);
  });

  it('follow readiness: 503 takes an instance out, 200 puts it back after healthyThreshold probes', async () => {
    const c = connect();
    await c.ready();
    events.length = 0;
    servers[0]!.failReady = true;
    await waitFor(() => events.length === 1);
    expect(events[0]).toMatch(/^down item-1: probe \/healthz\/ready answered 503: .*draining/);
    expect(c.stats().instances[0]).toMatchObject({ id: 'item-1', state: 'unhealthy', consecutiveFailures: 2 });
    servers[0]!.failReady = false;
    await waitFor(() => events.length === 2);
    expect(events[1]).toBe('up item-1');
    expect(c.stats().instances[0]!.consecutiveSuccesses).toBeGreaterThanOrEqual(2);
  });

  it('never routes to an instance before its first good probe, and throws when none is healthy', async () => {
    for (const s of servers) s.failReady = true;
    const c = connect({ readyTimeoutMs: 400 });
    await expect(c.ready()).rejects.toMatchObject({ code: 'no_healthy_instance' });
    expect(() => c.getServiceConnection(1n)).toThrow(expect.objectContaining({ code: 'no_healthy_instance' }));
    await expect(c.get(1n)).rejects.toMatchObject({ code: 'no_healthy_instance' });
    servers[3]!.failReady = false;
    await waitFor(() => c.healthyInstances().length === 1);
    expect(c.getServiceConnection(1n).instanceId).toBe('item-4');
  });
});

describe('passive health', () => {
  // Probes are far apart here, so only real requests can notice a failure.
  const slowProbes = { intervalMs: 60_000, timeoutMs: 1000, unhealthyThreshold: 2, healthyThreshold: 2 };

  it('a refused connection on get marks the instance down at once and the get retries on the next owner', async () => {
    const c = connect({ healthCheck: slowProbes });
    await c.ready();
    events.length = 0;
    const key = keyOwnedBy(c, 'item-2');
    for (const s of servers) s.items.set(key.toString(), { id: key.toString(), value: s.name, version: 1 });
    await server('item-2').kill();

    const item = await c.get(key);
    const next = c.getServiceConnection(key).instanceId;
    expect(next).not.toBe('item-2');
    expect(item).toEqual({ id: key.toString(), value: next, version: 1 });
    expect(events).toEqual([expect.stringMatching(/^down item-2: ECONNREFUSED/)]);
    expect(c.stats().instances.find((i) => i.id === 'item-2')).toMatchObject({
      state: 'unhealthy',
      requests: { ok: 0, failed: 0, connectionFailures: 1 },
    });
  });

  it('a put whose connection was refused is retried on the next owner (it never left)', async () => {
    const c = connect({ healthCheck: slowProbes });
    await c.ready();
    const key = keyOwnedBy(c, 'item-4');
    await server('item-4').kill();
    const item = await c.put(key, { n: 1 });
    expect(item.version).toBe(1);
    const next = server(c.getServiceConnection(key).instanceId);
    expect(next.items.get(key.toString())).toEqual(item);
  });

  it('a put whose connection broke after sending is not retried; a get in the same spot is, elsewhere; neither ejects', async () => {
    const c = connect({ healthCheck: slowProbes });
    await c.ready();
    const key = keyOwnedBy(c, 'item-1');
    const owner = server('item-1');
    // The request arrives, then the connection dies before any answer: the write may have happened.
    const hits = { GET: 0, PUT: 0 };
    owner.intercept = (req) => {
      if (req.url?.startsWith('/v1/items/') !== true) return false;
      if (req.method === 'PUT' || req.method === 'GET') hits[req.method]++;
      req.socket.destroy();
      return true;
    };
    const error = await c.put(key, 'x').catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'connection_failed', sent: true, instanceId: 'item-1' });
    expect((error as Error).cause).toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect(hits.PUT).toBe(1);
    expect(servers.reduce((n, s) => n + s.seen.PUT, 0)).toBe(0); // not repeated anywhere
    // One broken request is no evidence that the instance is sick (a body refused mid-upload,
    // one request's trouble): it keeps its keys.
    expect(c.healthyInstances()).toContain('item-1');

    // A read in the same situation is repeated once, on another instance (not ejecting this one).
    await c.close();
    const reader = connect({ healthCheck: slowProbes });
    await reader.ready();
    events.length = 0;
    await expect(reader.get(key)).resolves.toBeNull();
    expect(hits.GET).toBe(1);
    expect(servers.filter((s) => s.name !== 'item-1').reduce((n, s) => n + s.seen.GET, 0)).toBe(1);
    expect(events).toEqual([]);
    // Evidence across requests does: requestFailureThreshold (5) failures in a row.
    for (let i = 1; i < 5; i++) await expect(reader.put(key, i)).rejects.toMatchObject({ code: 'connection_failed' });
    expect(events).toEqual([expect.stringMatching(/^down item-1: 5 requests failed in a row: UND_ERR_SOCKET/)]);
    expect(reader.getServiceConnection(key).instanceId).not.toBe('item-1');
  });

  it('500 answers count after requestFailureThreshold in a row; overloaded and unavailable never do', async () => {
    const c = connect({ healthCheck: slowProbes });
    await c.ready();
    events.length = 0;
    const key = keyOwnedBy(c, 'item-3');
    const owner = server('item-3');
    owner.intercept = (req, res) => {
      if (req.url?.startsWith('/v1/items/') !== true) return false;
      fail(res, 'overloaded', 'lane full', { 'retry-after': '3' });
      return true;
    };
    for (let i = 0; i < 8; i++) {
      await expect(c.get(key)).rejects.toMatchObject({ code: 'overloaded', retryAfterMs: 3000 });
    }
    expect(events).toEqual([]);
    // A dependency every instance shares is down: moving the key would not help.
    owner.intercept = (req, res) => {
      if (req.url?.startsWith('/v1/items/') !== true) return false;
      fail(res, 'unavailable', 'postgres is unreachable');
      return true;
    };
    for (let i = 0; i < 8; i++) await expect(c.get(key)).rejects.toMatchObject({ code: 'unavailable' });
    expect(events).toEqual([]);

    owner.intercept = (req, res) => {
      if (req.url?.startsWith('/v1/items/') !== true) return false;
      send(res, 500, { error: { code: 'internal', message: 'boom' } });
      return true;
    };
    for (let i = 0; i < 4; i++) {
      await expect(c.get(key)).rejects.toMatchObject({ code: 'service_error', status: 500, serviceCode: 'internal' });
    }
    expect(events).toEqual([]);
    await expect(c.get(key)).rejects.toMatchObject({ code: 'service_error', status: 500 });
    expect(events).toEqual(['down item-3: 5 requests failed in a row: GET answered 500 (service_error)']);
    expect(c.getServiceConnection(key).instanceId).not.toBe('item-3');
  });
});
