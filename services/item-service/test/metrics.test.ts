import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/harness';
import { ERROR_CODES } from '@keylane/protocol';
import { createMetrics } from '../src/metrics.js';
import { createServer, type ItemService } from '../src/server.js';
import { captureLogger, httpClient, testConfig } from './helpers.js';
import { parsePrometheus, sampleValue, type Exposition } from './prometheus.js';

let ctx: TestContext;
let service: ItemService;
let baseUrl = '';
const api = httpClient(() => baseUrl);

async function scrape(): Promise<Exposition> {
  const response = await api.call({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(response.body);
}

beforeAll(async () => {
  ctx = await createTestContext({ name: 'itemsvc_metrics' });
  service = await createServer(testConfig(ctx), { logger: captureLogger().logger });
  baseUrl = await service.listen();
});

afterAll(async () => {
  await api.close();
  await service?.close();
  await ctx?.dispose();
});

describe('the parser', () => {
  // The check below is only worth something if the parser refuses broken text.
  it.each([
    ['a sample without # TYPE', 'x_total 1\n'],
    ['an unquoted label value', '# TYPE x counter\nx{a=b} 1\n'],
    ['a bad escape', '# TYPE x counter\nx{a="\\q"} 1\n'],
    ['a value that is not a number', '# TYPE x counter\nx 1,5\n'],
    ['a duplicate TYPE', '# TYPE x counter\n# TYPE x gauge\n'],
    ['a space in a name', '# TYPE x counter\nx y 1\n'],
  ])('refuses %s', (_label, text) => {
    expect(() => parsePrometheus(text)).toThrow();
  });
});

describe('/metrics', () => {
  it('parses as Prometheus text, with the families the README lists', async () => {
    const exposition = await scrape();
    for (const [name, type] of [
      ['keylane_http_requests_total', 'counter'],
      ['keylane_http_request_duration_seconds', 'histogram'],
      ['keylane_cache_hits_total', 'counter'],
      ['keylane_cache_misses_total', 'counter'],
      ['keylane_cache_coalesced_total', 'counter'],
      ['keylane_cache_fills_total', 'counter'],
      ['keylane_cache_fills_rejected_total', 'counter'],
      ['keylane_cache_write_fills_total', 'counter'],
      ['keylane_leases_total', 'counter'],
      ['keylane_writes_expired_total', 'counter'],
      ['keylane_overloaded_total', 'counter'],
      ['keylane_db_errors_total', 'counter'],
      ['keylane_redis_errors_total', 'counter'],
      ['keylane_lane_queue_depth', 'gauge'],
      ['keylane_lane_queue_depth_max', 'gauge'],
      ['keylane_draining', 'gauge'],
      ['process_resident_memory_bytes', 'gauge'],
    ] as const) {
      expect([name, exposition.types.get(name)]).toEqual([name, type]);
    }
    // One queue-depth series per lane (KEYLANE_LANES=4 in the test config).
    const lanes = exposition.samples
      .filter((s) => s.name === 'keylane_lane_queue_depth')
      .map((s) => s.labels['lane']);
    expect(lanes.sort()).toEqual(['0', '1', '2', '3']);
    expect(sampleValue(exposition, 'keylane_draining')).toBe(0);
  });

  it('exports exactly the keylane_* families README.md lists', async () => {
    const exposition = await scrape();
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('## Lifecycle'));
    const documented = [...section.matchAll(/`(keylane_[a-z_]+)`/g)].map((m) => m[1]!);
    const exported = [...exposition.types.keys()].filter((name) => name.startsWith('keylane_'));
    expect([...new Set(documented)].sort()).toEqual(exported.sort());
  });

  it('moves its counters with the traffic', async () => {
    const before = await scrape();
    const route = { route: '/v1/items/:id' };
    expect(
      (await api.call({ method: 'PUT', url: '/v1/items/5150', payload: { value: 'v' } }))
        .statusCode,
    ).toBe(200);
    for (let i = 0; i < 3; i += 1) {
      expect((await api.call({ method: 'GET', url: '/v1/items/5150' })).statusCode).toBe(200);
    }
    expect((await api.call({ method: 'GET', url: '/v1/items/5151' })).statusCode).toBe(404);
    expect((await api.call({ method: 'GET', url: '/v1/items/x' })).statusCode).toBe(400);
    expect((await api.call({ method: 'GET', url: '/nowhere' })).statusCode).toBe(404);
    const after = await scrape();

    const delta = (name: string, where: Record<string, string> = {}): number =>
      sampleValue(after, name, where) - sampleValue(before, name, where);
    expect(delta('keylane_http_requests_total', { ...route, method: 'PUT', status: '200' })).toBe(
      1,
    );
    expect(delta('keylane_http_requests_total', { ...route, method: 'GET', status: '200' })).toBe(
      3,
    );
    expect(delta('keylane_http_requests_total', { ...route, method: 'GET', status: '404' })).toBe(
      1,
    );
    expect(delta('keylane_http_requests_total', { ...route, method: 'GET', status: '400' })).toBe(
      1,
    );
    expect(
      delta('keylane_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }),
    ).toBe(1);
    expect(delta('keylane_http_request_duration_seconds_count', { ...route, method: 'GET' })).toBe(
      5,
    );
    expect(delta('keylane_engine_writes_total')).toBe(1);
    expect(delta('keylane_engine_reads_total')).toBe(4);
    // The first GET after the write misses and fills; the two after it hit. The 404 misses too.
    expect(delta('keylane_cache_hits_total') + delta('keylane_cache_misses_total')).toBe(4);
    expect(delta('keylane_cache_hits_total')).toBeGreaterThanOrEqual(2);
    expect(delta('keylane_cache_fills_total')).toBeGreaterThanOrEqual(1);
    expect(delta('keylane_leases_total', { outcome: 'granted' })).toBeGreaterThanOrEqual(1);
    // Error answers by wire code: the bad id, the missing item and the unknown route.
    expect(delta('keylane_errors_total', { reason: 'invalid_id' })).toBe(1);
    expect(delta('keylane_errors_total', { reason: 'not_found' })).toBe(2);
    expect(delta('keylane_errors_total', { reason: 'overloaded' })).toBe(0);
    // Timed from the engine's channels: the PUT and the miss of 5151 waited in a lane (the
    // PUT's end filled 5150, so its GETs hit); the PUT ran one transaction (committed) between
    // its two guard scripts; the miss asked a lease.
    expect(delta('keylane_lane_wait_seconds_count', { outcome: 'started' })).toBe(2);
    expect(delta('keylane_db_transaction_duration_seconds_count', { committed: 'yes' })).toBe(1);
    expect(delta('keylane_redis_script_duration_seconds_count', { script: 'writeBegin', outcome: 'ok' })).toBe(1);
    expect(delta('keylane_redis_script_duration_seconds_count', { script: 'writeEnd', outcome: 'ok' })).toBe(1);
    expect(delta('keylane_redis_script_duration_seconds_count', { script: 'lease', outcome: 'ok' })).toBe(1);
    // BEGIN, the UPSERT, the fence's COMMIT; the miss's SELECT.
    expect(delta('keylane_db_statement_duration_seconds_count', { connection: 'lane', outcome: 'ok' })).toBeGreaterThanOrEqual(4);
    expect(delta('keylane_db_statement_duration_seconds_sum', { connection: 'lane' })).toBeGreaterThan(0);
    expect(delta('keylane_writes_unknown_total')).toBe(0);
    // The scrape itself is counted once it has been answered.
    expect(
      delta('keylane_http_requests_total', { route: '/metrics', method: 'GET', status: '200' }),
    ).toBe(1);
  });

  it('says its version and starts every error reason at zero', async () => {
    const exposition = await scrape();
    const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect(sampleValue(exposition, 'keylane_build_info', { version, node: process.versions.node })).toBe(1);
    const reasons = exposition.samples.filter((s) => s.name === 'keylane_errors_total').map((s) => s.labels['reason']);
    expect(reasons.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it("times only its own engine's work: another engine id sees none of it, and after close() nothing more", async () => {
    const mine = createMetrics({ instanceId: 'mine', strategy: 'serial-guarded', stats: () => ({ ...service.engine.stats(), ...service.items.stats() }), processMetrics: false, engineId: service.engine.id });
    const other = createMetrics({ instanceId: 'other', strategy: 'serial-guarded', stats: () => ({ ...service.engine.stats(), ...service.items.stats() }), processMetrics: false, engineId: service.engine.id + 1000 });
    try {
      expect((await api.call({ method: 'PUT', url: '/v1/items/5160', payload: { value: 1 } })).statusCode).toBe(200);
      const waits = async (m: typeof mine): Promise<number> =>
        sampleValue(parsePrometheus(await m.registry.metrics()), 'keylane_lane_wait_seconds_count');
      expect(await waits(mine)).toBe(1);
      expect(await waits(other)).toBe(0);
      mine.close();
      expect((await api.call({ method: 'PUT', url: '/v1/items/5160', payload: { value: 2 } })).statusCode).toBe(200);
      expect(await waits(mine)).toBe(1);
    } finally {
      mine.close();
      other.close();
    }
  });

  it('lives in a registry per server: two servers in one process do not collide', async () => {
    let calls = 0;
    const stats = () => {
      calls += 1;
      return { ...service.engine.stats(), ...service.items.stats() };
    };
    const a = createMetrics({ instanceId: 'a', strategy: 'serial', stats });
    const b = createMetrics({ instanceId: 'b', strategy: 'serial', stats });
    a.observeRequest('/x', 'GET', 200, 0.01);
    const textA = parsePrometheus(await a.registry.metrics());
    // One engine snapshot per scrape, so the numbers of one scrape agree with each other.
    expect(calls).toBe(1);
    const textB = parsePrometheus(await b.registry.metrics());
    expect(sampleValue(textA, 'keylane_http_requests_total', { instance_id: 'a' })).toBe(1);
    expect(sampleValue(textB, 'keylane_http_requests_total')).toBe(0);
  });
});
