import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEADLINE_HEADER, ERROR_CODES, isErrorBody, type ErrorCode } from '@keylane/protocol';
import { createTestContext, type TestContext } from '@keylane/harness';
import { createCartServer, type CartService } from '../src/server.js';
import { captureLogger, httpClient, tablesDigest, testConfig, type Answer, type LogLine } from './helpers.js';
import { inspect } from '@keylane/engine/testing';

let ctx: TestContext;
let service: CartService;
let logs: LogLine[];
let baseUrl = '';
const api = httpClient(() => baseUrl);

function expectError(answer: Answer, code: ErrorCode): void {
  expect(isErrorBody(answer.body)).toBe(true);
  expect(answer.body).toMatchObject({ error: { code } });
  expect(answer.status).toBe(ERROR_CODES[code].status);
}

beforeAll(async () => {
  ctx = await createTestContext({ name: 'cartsvc_routes' });
  const capture = captureLogger('debug');
  logs = capture.lines;
  service = await createCartServer(testConfig(ctx, { KEYLANE_MAX_BODY_BYTES: '1024' }), { logger: capture.logger, processMetrics: false });
  baseUrl = await service.listen();
});

afterAll(async () => {
  await api.close();
  await service?.close();
  await ctx?.dispose();
});

describe('cart routes', () => {
  it('upserts lines into a cart that did not exist, joins both tables on reads, removes lines and the cart', async () => {
    expectError(await api.call('GET', '/v1/carts/7'), 'not_found');

    const first = await api.call('PUT', '/v1/carts/7/lines/apple', { qty: 2, priceCents: 150, owner: 'ada@example.com' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id: '7', owner: 'ada@example.com', version: 1, lines: [{ sku: 'apple', qty: 2, priceCents: 150 }] });

    const second = await api.call('PUT', '/v1/carts/7/lines/PEAR-1.b_x', { qty: 1, priceCents: 1_000_000_000_000, owner: 'someone-else' });
    // An existing cart keeps its owner; the parent row's version moves with its lines.
    expect(second.body).toMatchObject({
      owner: 'ada@example.com',
      version: 2,
      lines: [
        { sku: 'PEAR-1.b_x', qty: 1, priceCents: 1_000_000_000_000 },
        { sku: 'apple', qty: 2, priceCents: 150 },
      ],
    });
    const updated = await api.call('PUT', '/v1/carts/7/lines/apple', { qty: 5, priceCents: 140 });
    expect(updated.body).toMatchObject({ version: 3, lines: [{ sku: 'PEAR-1.b_x' }, { sku: 'apple', qty: 5, priceCents: 140 }] });

    // The read after a write is a cache hit (the mutation filled it) equal to the DB join.
    const hitsBefore = service.carts.entity.stats().hits;
    const read = await api.call('GET', '/v1/carts/7');
    expect(read.body).toEqual(updated.body);
    expect(service.carts.entity.stats().hits).toBe(hitsBefore + 1);
    const { cached, stored } = await inspect(service.carts.entity, 7);
    expect(cached).toEqual(stored);
    expect(typeof (read.body as { updatedAt: unknown }).updatedAt).toBe('string');

    const removed = await api.call('DELETE', '/v1/carts/7/lines/PEAR-1.b_x');
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ version: 4, lines: [{ sku: 'apple', qty: 5 }] });
    expectError(await api.call('DELETE', '/v1/carts/7/lines/PEAR-1.b_x'), 'not_found');
    expectError(await api.call('DELETE', '/v1/carts/8/lines/apple'), 'not_found');

    const deleted = await api.call('DELETE', '/v1/carts/7');
    expect(deleted.status).toBe(204);
    expectError(await api.call('GET', '/v1/carts/7'), 'not_found');
    expectError(await api.call('DELETE', '/v1/carts/7'), 'not_found');
    const { rows } = await ctx.pg.query(`SELECT * FROM "${ctx.schema}".cart_lines WHERE cart_id = 7`);
    expect(rows).toEqual([]);
  });

  it('refuses bad ids, skus, bodies and deadlines with registry 400s before touching the database', async () => {
    await api.call('PUT', '/v1/carts/9/lines/a', { qty: 1, priceCents: 1 });
    const digest = await tablesDigest(ctx);
    const reads = service.engine.stats().dbReads;
    const cases: [string, string, unknown, Record<string, string>, ErrorCode][] = [
      ['GET', '/v1/carts/007', undefined, {}, 'invalid_id'],
      ['GET', '/v1/carts/9223372036854775808', undefined, {}, 'invalid_id'],
      ['PUT', '/v1/carts/x/lines/a', { qty: 1, priceCents: 1 }, {}, 'invalid_id'],
      ['PUT', '/v1/carts/9/lines/a%20b', { qty: 1, priceCents: 1 }, {}, 'invalid_id'],
      ['PUT', `/v1/carts/9/lines/${'s'.repeat(65)}`, { qty: 1, priceCents: 1 }, {}, 'invalid_id'],
      ['DELETE', '/v1/carts/9/lines/%E0%A4%A', undefined, {}, 'invalid_id'],
      ['PUT', '/v1/carts/9/lines/a', { qty: 0, priceCents: 1 }, {}, 'invalid_body'],
      ['PUT', '/v1/carts/9/lines/a', { qty: 10_001, priceCents: 1 }, {}, 'invalid_body'],
      ['PUT', '/v1/carts/9/lines/a', { qty: 1.5, priceCents: 1 }, {}, 'invalid_body'],
      ['PUT', '/v1/carts/9/lines/a', { qty: '1', priceCents: 1 }, {}, 'invalid_body'],
      ['PUT', '/v1/carts/9/lines/a', { qty: 1, priceCents: -1 }, {}, 'invalid_body'],
      ['PUT', '/v1/carts/9/lines/a', { qty: 1, priceCents: 2 ** 53 }, {}, 'invalid_body'],
      ['PUT', '/v1/carts/9/lines/a', { qty: 1 }, {}, 'invalid_body'],
      ['PUT', '/v1/carts/9/lines/a', { qty: 1, priceCents: 1, quantity: 2 }, {}, 'invalid_body'],
      ['PUT', '/v1/carts/9/lines/a', { qty: 1, priceCents: 1, owner: 'a b' }, {}, 'invalid_body'],
      ['PUT', '/v1/carts/9/lines/a', '{"qty":1,', {}, 'invalid_body'],
      ['PUT', '/v1/carts/9/lines/a', 'x'.repeat(2048), { 'content-type': 'application/json' }, 'payload_too_large'],
      ['GET', '/v1/carts/9', undefined, { [DEADLINE_HEADER]: 'soon' }, 'invalid_header'],
      ['PUT', '/v1/carts/9/lines/a', { qty: 2, priceCents: 1 }, { [DEADLINE_HEADER]: String(Date.now() - 5_000) }, 'deadline_exceeded'],
      ['PATCH', '/v1/carts/9', undefined, {}, 'not_found'],
    ];
    for (const [method, path, payload, headers, code] of cases) {
      const answer = await api.call(method, path, payload, headers);
      try {
        expectError(answer, code);
      } catch (err) {
        throw new Error(`${method} ${path} ${JSON.stringify(payload)?.slice(0, 60)}: ${answer.status} ${answer.text.slice(0, 200)}`, { cause: err });
      }
    }
    expect(await tablesDigest(ctx)).toBe(digest);
    expect(service.engine.stats().dbReads).toBe(reads);
    expect(logs.filter((l) => l.level > 30)).toEqual([]);
  });

  it('takes a deadline in the future, and serves health and metrics', async () => {
    const answer = await api.call('PUT', '/v1/carts/10/lines/a', { qty: 3, priceCents: 9 }, { [DEADLINE_HEADER]: String(Date.now() + 5_000) });
    expect(answer.status).toBe(200);
    expect((await api.call('GET', '/healthz/live')).status).toBe(200);
    const ready = await api.call('GET', '/healthz/ready');
    expect(ready.body).toMatchObject({ ready: true, instanceId: 'cart-test', strategy: 'serial-guarded' });
    const metrics = await api.call('GET', '/metrics');
    expect(metrics.text).toMatch(/keylane_engine_writes_total\{[^}]*\} [1-9]/);
    expect(metrics.text).toContain('route="/v1/carts/:id/lines/:sku"');
  });
});
