import { tracingChannel } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, SDK_CHANNELS, type KeylaneClient, type RequestContext } from '@keylane/sdk';
import { createTestContext, type TestContext } from '@keylane/harness';
import { createServer, type ItemService } from '../src/server.js';
import { captureLogger, httpClient, testConfig, type LogLine } from './helpers.js';

/**
 * x-request-id end to end: the real SDK against the real service, the service's pino output
 * captured. A caller's id (given, or the one the SDK generated) is the reqId of the service's
 * log line for that request and comes back in the answer.
 */
let ctx: TestContext;
let service: ItemService;
let client: KeylaneClient;
let lines: LogLine[];
let baseUrl = '';
const api = httpClient(() => baseUrl);

beforeAll(async () => {
  ctx = await createTestContext({ name: 'itemsvc_request_id' });
  const captured = captureLogger('debug');
  lines = captured.lines;
  service = await createServer(testConfig(ctx), { logger: captured.logger, processMetrics: false });
  baseUrl = await service.listen();
  client = createClient({ instances: [baseUrl] });
  await client.ready();
});

afterAll(async () => {
  await client?.close();
  await api.close();
  await service?.close();
  await ctx?.dispose();
});

const linesOf = (reqId: string): LogLine[] => lines.filter((l) => l.reqId === reqId);

describe('x-request-id', () => {
  it("a caller's id passed to the SDK is the reqId of the service's log line", async () => {
    await client.put(31n, 'a', { requestId: 'checkout-7f3a-put' });
    expect(await client.get(404_404n, { requestId: 'checkout-7f3a-get' })).toBeNull();
    expect(linesOf('checkout-7f3a-put').map((l) => l.msg)).toEqual(['request served']);
    const refused = linesOf('checkout-7f3a-get');
    expect(refused.map((l) => [l.msg, l['code']])).toEqual([['request refused', 'not_found']]);
  });

  it('without one the SDK generates an id per call, the same the service logs (seen on the SDK channel)', async () => {
    const sent: RequestContext[] = [];
    const channel = tracingChannel<unknown, RequestContext>(SDK_CHANNELS.request);
    const onStart = (message: unknown): void => void sent.push(message as RequestContext);
    channel.start.subscribe(onStart);
    try {
      await client.get(31n);
      await client.get(31n);
    } finally {
      channel.start.unsubscribe(onStart);
    }
    const ids = sent.map((c) => c.requestId);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(linesOf(id).map((l) => l.msg)).toEqual(['request served']);
    }
  });

  it('is echoed in the answer', async () => {
    const response = await api.call({ method: 'GET', url: '/v1/items/31', headers: { 'x-request-id': 'raw-caller-1' } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-request-id']).toBe('raw-caller-1');
  });

  it('an id that is not a plain token is replaced by the instance’s own, not logged as sent', async () => {
    const hostile = `a b ${'x'.repeat(10)}`;
    const tooLong = 'y'.repeat(129);
    for (const sent of [hostile, tooLong]) {
      const response = await api.call({ method: 'GET', url: '/v1/items/31', headers: { 'x-request-id': sent } });
      const answered = String(response.headers['x-request-id']);
      expect(answered).not.toBe(sent);
      expect(answered).toMatch(/^test-instance-[0-9a-z]+$/);
      expect(linesOf(answered)).toHaveLength(1);
      expect(linesOf(sent)).toEqual([]);
    }
  });

  it('the SDK refuses an id it could not send as is', async () => {
    await expect(client.get(31n, { requestId: 'has space' })).rejects.toMatchObject({ code: 'invalid_options' });
    await expect(client.get(31n, { traceparent: 'not-a-trace' })).rejects.toMatchObject({ code: 'invalid_options' });
  });
});
