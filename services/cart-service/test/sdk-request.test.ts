import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEADLINE_HEADER } from '@keylane/protocol';
import { createClient, InvalidOptionsError, type KeylaneClient } from '@keylane/sdk';
import { createTestContext, type TestContext } from '@keylane/harness';
import { startBin, testEnv } from './helpers.js';

/**
 * `client.request` of @keylane/sdk against two real cart-service processes: each cart goes to
 * the instance routing names for its id, answers below 500 resolve as they came, and after one
 * instance is SIGKILLed the next owner answers reads and writes of its carts.
 */

const children: ChildProcess[] = [];
let ctx: TestContext;
let client: KeylaneClient;
const urls = new Map<string, string>();

beforeAll(async () => {
  ctx = await createTestContext({ name: 'cartsvc_sdk' });
  for (const id of ['cart-a', 'cart-b']) {
    const run = startBin({ ...testEnv(ctx, id), KEYLANE_LANES: '2' }, children);
    urls.set(id, await run.url);
  }
  client = createClient({
    instances: [...urls].map(([id, url]) => ({ id, url })),
    healthCheck: { intervalMs: 100, unhealthyThreshold: 1, healthyThreshold: 1 },
  });
  await client.ready();
}, 30_000);

afterAll(async () => {
  await client?.close();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await ctx?.dispose();
});

describe('client.request on the cart service', () => {
  it('routes every cart to its owner, writes both tables through PUT and reads the join back', async () => {
    const answeredBy = new Map<string, number>();
    for (let id = 1; id <= 20; id++) {
      const owner = client.getServiceConnection(id).instanceId;
      const put = await client.request(id, { method: 'PUT', path: `/v1/carts/${id}/lines/sku-${id}`, body: { qty: id, priceCents: 99 } });
      expect(put).toMatchObject({ status: 200, instanceId: owner, body: { id: String(id), lines: [{ sku: `sku-${id}`, qty: id, priceCents: 99 }] } });
      const get = await client.request(id, { path: `/v1/carts/${id}` });
      expect(get.body).toEqual(put.body);
      expect(get.instanceId).toBe(owner);
      answeredBy.set(owner, (answeredBy.get(owner) ?? 0) + 1);
    }
    // Both instances own carts: the routing spread them.
    expect([...answeredBy.keys()].sort()).toEqual(['cart-a', 'cart-b']);
  });

  it('resolves 4xx answers as they came, and refuses what it must not send', async () => {
    const missing = await client.request(999, { path: '/v1/carts/999' });
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    const bad = await client.request(3, { method: 'PUT', path: '/v1/carts/3/lines/apple', body: { qty: 0, priceCents: 1 } });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'invalid_body' } } });
    const gone = await client.request(3, { method: 'DELETE', path: '/v1/carts/3/lines/nope' });
    expect(gone.status).toBe(404);
    await expect(client.request(3, { path: '/v1/carts/3', headers: { [DEADLINE_HEADER]: '1' } })).rejects.toThrow(InvalidOptionsError);
    await expect(client.request(3, { path: 'v1/carts/3' })).rejects.toThrow(InvalidOptionsError);
    await expect(client.request(3, { method: 'get', path: '/v1/carts/3' })).rejects.toThrow(InvalidOptionsError);
    await expect(client.request('007x', { path: '/v1/carts/3' })).resolves.toMatchObject({ status: 200 });
  });

  it('sends the deadline: a request whose deadline cannot be met is refused, not run late', async () => {
    // A 1 ms budget: the instance reads a deadline already past (or the client times out first).
    const tight = createClient({ instances: [...urls].map(([id, url]) => ({ id, url })), requestTimeoutMs: 1 });
    try {
      await tight.ready();
      const before = (await client.request(5, { path: '/v1/carts/5' })).body;
      const outcome = await tight.request(5, { method: 'PUT', path: '/v1/carts/5/lines/late', body: { qty: 1, priceCents: 1 } }).then(
        () => 'committed',
        (err: unknown) => (err as { code?: string }).code,
      );
      expect(['request_timeout', 'deadline_exceeded']).toContain(outcome);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await client.request(5, { path: '/v1/carts/5' })).body).toEqual(before);
    } finally {
      await tight.close();
    }
  });

  it('after the owner of some carts is SIGKILLed, the next owner answers their reads and writes', async () => {
    const victim = 'cart-a';
    const carts = Array.from({ length: 20 }, (_, i) => i + 1).filter((id) => client.getServiceConnection(id).instanceId === victim);
    expect(carts.length).toBeGreaterThan(0);
    children[0]!.kill('SIGKILL');
    await new Promise((resolve) => children[0]!.once('exit', resolve));
    // At once, before any probe noticed: the refused connection sends each request to the next owner.
    for (const id of carts) {
      const read = await client.request(id, { path: `/v1/carts/${id}` });
      expect(read).toMatchObject({ status: 200, instanceId: 'cart-b', body: { lines: [{ sku: `sku-${id}`, qty: id }] } });
      const write = await client.request(id, { method: 'PUT', path: `/v1/carts/${id}/lines/after`, body: { qty: 2, priceCents: 5 } });
      expect(write).toMatchObject({ status: 200, instanceId: 'cart-b' });
    }
    expect(client.healthyInstances()).toEqual(['cart-b']);
    const { rows } = await ctx.pg.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${ctx.schema}".cart_lines WHERE sku = 'after'`);
    expect(Number(rows[0]!.n)).toBe(carts.length);
  });
});
