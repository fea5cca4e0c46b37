import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ClientClosedError, createClient } from '../src/index.js';
import { startFleet, stopFleet, waitFor, type ItemServer } from './helpers/item-server.js';

// Handles the SDK could leak: sockets, timers, servers are the test's own.
const WATCHED = ['TCPSocketWrap', 'Timeout', 'TCPWrap'];

function countHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) {
    if (WATCHED.includes(type)) counts[type] = (counts[type] ?? 0) + 1;
  }
  return counts;
}

/** Jest's own timers come and go; what matters is that none of the client's outlive it. */
function noMoreThan(now: Record<string, number>, baseline: Record<string, number>): boolean {
  return WATCHED.every((type) => (now[type] ?? 0) <= (baseline[type] ?? 0));
}

let servers: ItemServer[];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeEach(async () => {
  servers = await startFleet(3);
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  process.off('unhandledRejection', onUnhandled);
  await stopFleet(servers);
});

describe('close()', () => {
  it('leaves no sockets or timers behind and no unhandled rejections, whatever happened before', async () => {
    const baseline = countHandles();
    const client = createClient({
      instances: servers.map((s) => s.url),
      routing: 'consistent',
      // A generous probe timeout: a loaded machine must not fail probes before the test means to.
      healthCheck: { intervalMs: 50, timeoutMs: 2000 },
      requestTimeoutMs: 200,
    });
    await client.ready();
    // The check can fail: the client holds handles (its keep-alive sockets to the servers; its
    // timers come and go with the probes, and jest's own can make the baseline's count higher).
    expect(countHandles()['TCPSocketWrap'] ?? 0).toBeGreaterThan(baseline['TCPSocketWrap'] ?? 0);

    // Traffic on every path: success, miss, timeout, refused connection, no healthy instance.
    for (let id = 0; id < 50; id++) await client.put(id, id);
    await client.get(999n);
    const slow = servers.find((s) => s.url === client.getServiceConnection(7n).url)!;
    slow.intercept = (req) => req.url?.startsWith('/v1/items/') === true;
    await expect(client.get(7n)).rejects.toMatchObject({ code: 'request_timeout' });
    slow.intercept = null;
    const dead = servers.find((s) => s.url === client.getServiceConnection(8n).url)!;
    await dead.kill();
    await client.get(8n); // refused, marked down, retried elsewhere
    for (const s of servers) s.failReady = true;
    await waitFor(() => client.healthyInstances().length === 0);
    await expect(client.get(9n)).rejects.toMatchObject({ code: 'no_healthy_instance' });
    // A probe is in flight against a server that never answers readiness while we close.
    for (const s of servers) s.intercept = (req) => req.url === '/healthz/ready';

    const hanging = client.get(10n).catch((err: unknown) => err);
    await client.close();
    await expect(hanging).resolves.toMatchObject({ code: 'no_healthy_instance' });
    await waitFor(() => noMoreThan(countHandles(), baseline), 5000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(noMoreThan(countHandles(), baseline)).toBe(true);
    expect(unhandled).toEqual([]);
  });

  it('waits for requests in flight, then refuses new work with ClientClosedError', async () => {
    const client = createClient({ instances: servers.map((s) => s.url), requestTimeoutMs: 5000 });
    await client.ready();
    const owner = servers.find((s) => s.url === client.getServiceConnection(5n).url)!;
    owner.intercept = (req, res) => {
      if (req.url?.startsWith('/v1/items/') !== true) return false;
      setTimeout(() => res.writeHead(204).end(), 150);
      return true;
    };
    const inFlight = client.delete(5n);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const closing = client.close();
    expect(client.close()).toBe(closing);
    await expect(inFlight).resolves.toBe(true);
    await closing;
    await expect(client.get(1n)).rejects.toBeInstanceOf(ClientClosedError);
    await expect(client.ready()).rejects.toMatchObject({ code: 'client_closed' });
    expect(() => client.getServiceConnection(1n)).toThrow(ClientClosedError);
    expect(unhandled).toEqual([]);
  });

  it('rejects a pending ready() with ClientClosedError', async () => {
    for (const s of servers) s.failReady = true;
    const client = createClient({ instances: servers.map((s) => s.url), readyTimeoutMs: 60_000 });
    const ready = client.ready();
    await client.close();
    await expect(ready).rejects.toMatchObject({ code: 'client_closed' });
  });
});
