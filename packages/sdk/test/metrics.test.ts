import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { createClient, InvalidOptionsError, type KeylaneClient } from '../src/index.js';
import { prometheusMetrics } from '../src/prometheus.js';
import { fail, keyStream, startFleet, stopFleet, type ItemServer } from './helpers/item-server.js';

let servers: ItemServer[];
let client: KeylaneClient;
let registry: Registry;

beforeEach(async () => {
  servers = await startFleet(3);
  registry = new Registry();
  client = createClient({
    instances: servers.map((s) => ({ id: s.name, url: s.url })),
    healthCheck: { intervalMs: 60_000, timeoutMs: 1000 },
    requestTimeoutMs: 1500,
    metrics: prometheusMetrics(registry),
  });
  await client.ready();
});
afterEach(async () => {
  await client.close();
  await stopFleet(servers);
});

const server = (id: string) => servers.find((s) => s.name === id)!;
const ownedBy = (id: string) => [...keyStream(9n, 2000)].find((k) => client.getServiceConnection(k).instanceId === id)!;

/** The value of one series in the registry's JSON, 0 when absent. */
async function value(name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const series = metric?.values.find(
    (v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l) && !('metricName' in v && v.metricName !== name),
  );
  return series?.value ?? 0;
}

describe('SDK metrics in a real prom-client Registry (real HTTP servers)', () => {
  it('counts requests per instance, failures by code, and reroutes', async () => {
    const key1 = ownedBy('item-1');
    const key2 = ownedBy('item-2');
    await client.put(key1, 'a');
    await client.get(key1);
    await client.get(key2);
    server('item-2').intercept = (req, res) => {
      if (req.method !== 'PUT') return false;
      fail(res, 'version_conflict', 'no');
      return true;
    };
    await client.put(key2, 'b', { ifVersion: 7 }).catch(() => undefined);
    // A read whose connection breaks on its owner is rerouted to another instance.
    server('item-2').intercept = (req) => {
      if (req.method !== 'GET' || !req.url?.startsWith('/v1/items/')) return false;
      req.socket.destroy();
      return true;
    };
    await client.get(key2);

    expect(await value('keylane_sdk_requests_total', { instance: 'item-1', method: 'PUT', outcome: 'ok' })).toBe(1);
    expect(await value('keylane_sdk_requests_total', { instance: 'item-2', method: 'GET', outcome: 'ok' })).toBe(1);
    expect(await value('keylane_sdk_requests_total', { instance: 'item-2', method: 'GET', outcome: 'error' })).toBe(1);
    expect(await value('keylane_sdk_failures_total', { instance: 'item-2', code: 'version_conflict' })).toBe(1);
    expect(await value('keylane_sdk_failures_total', { instance: 'item-2', code: 'connection_failed' })).toBe(1);
    const reroutes = (await registry.getMetricsAsJSON()).find((m) => m.name === 'keylane_sdk_reroutes_total')!.values;
    expect(reroutes).toHaveLength(1);
    expect(reroutes[0]!.labels).toMatchObject({ from: 'item-2', code: 'connection_failed' });
    expect(['item-1', 'item-3']).toContain(reroutes[0]!.labels['to']);
    expect(reroutes[0]!.value).toBe(1);
    // The rerouted read answered on the instance it moved to (item-1 also served key1's read).
    const to = String(reroutes[0]!.labels['to']);
    expect(await value('keylane_sdk_requests_total', { instance: to, method: 'GET', outcome: 'ok' })).toBe(to === 'item-1' ? 2 : 1);
    const text = await registry.metrics();
    expect(text).toMatch(/keylane_sdk_request_duration_seconds_count\{instance="item-1",method="PUT"\} 1/);
  });

  it('refuses a metrics option that is not a collector', () => {
    expect(() => createClient({ instances: ['http://127.0.0.1:1'], metrics: {} as never })).toThrow(InvalidOptionsError);
  });
});
