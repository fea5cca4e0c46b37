import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type KeylaneClient } from '@keylane/sdk';
import { createTestContext, ItemServer, type TestContext } from '@keylane/harness';
import { request } from 'undici';
import { createServer, type ItemService } from '../src/index.js';
import { captureLogger, testConfig } from './helpers.js';

/**
 * The SDK's own tests run against a stand-in (ItemServer of @keylane/harness): an in-memory
 * map behind the item service's HTTP API, fast, with faults at will. Whatever the SDK was
 * shown to do there holds for the real service only while the stand-in answers as the service
 * does. This runs the same calls, through the real SDK and over raw HTTP, against both, and
 * wants the same outcome from each: the stand-in cannot drift from the service unseen.
 */
let ctx: TestContext;
let service: ItemService;
let standIn: ItemServer;
const targets: { name: string; url: string; client: KeylaneClient }[] = [];

beforeAll(async () => {
  ctx = await createTestContext({ name: 'itemsvc_contract' });
  service = await createServer(testConfig(ctx), { logger: captureLogger().logger, processMetrics: false });
  standIn = await ItemServer.start('stand-in');
  for (const [name, url] of [
    ['service', await service.listen()],
    ['stand-in', standIn.url],
  ] as const) {
    const client = createClient({ instances: [url], requestTimeoutMs: 5_000 });
    await client.ready();
    targets.push({ name, url, client });
  }
});

afterAll(async () => {
  for (const t of targets) await t.client.close();
  await standIn?.kill();
  await service?.close();
  await ctx?.dispose();
});

/** A call's outcome as a caller sees it: the value, or the error's class, code and fields. */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    return { value: await call() };
  } catch (err) {
    const e = err as Error & { code?: string; serviceCode?: string | null; status?: number; actualVersion?: number };
    return {
      error: e.constructor.name,
      code: e.code,
      ...(e.serviceCode !== undefined ? { serviceCode: e.serviceCode } : {}),
      ...(e.actualVersion !== undefined ? { actualVersion: e.actualVersion } : {}),
    };
  }
}

/** The SDK's calls, in an order that visits each answer: the same key on each target. */
const SDK_STEPS: [string, (c: KeylaneClient, id: bigint) => Promise<unknown>][] = [
  ['get of a key never written', (c, id) => c.get(id)],
  ['put creates it', (c, id) => c.put(id, { name: 'max', tags: ['a'] })],
  ['get hits it', (c, id) => c.get(id)],
  ['put with a stale ifVersion', (c, id) => c.put(id, 'v2', { ifVersion: 0 })],
  ['put with the current ifVersion', (c, id) => c.put(id, 'v2', { ifVersion: 1 })],
  ['delete of it', (c, id) => c.delete(id)],
  ['get after the delete', (c, id) => c.get(id)],
  ['delete of an absent key', (c, id) => c.delete(id)],
  ['put with ifVersion 3 on an absent key', (c, id) => c.put(id, 'v3', { ifVersion: 3 })],
  ['put with ifVersion 0 on an absent key', (c, id) => c.put(id, null, { ifVersion: 0 })],
  ['the largest id', (c) => c.put(9_223_372_036_854_775_807n, 'edge')],
  ['the smallest id', (c) => c.get(-9_223_372_036_854_775_808n)],
];

describe('the SDK against the real service and its stand-in', () => {
  it('every call ends the same way on both: value, or error class, code and fields', async () => {
    const seen: Record<string, unknown[]> = {};
    for (const [step, call] of SDK_STEPS) {
      for (const t of targets) (seen[step] ??= []).push(await outcome(() => call(t.client, 4_242n)));
    }
    for (const [step, [service, standIn]] of Object.entries(seen)) {
      expect({ step, standIn }).toEqual({ step, standIn: service });
    }
    // Not two equal failures: the steps did what they say on the service.
    expect(seen['put with the current ifVersion']![0]).toEqual({ value: { id: '4242', value: 'v2', version: 2 } });
    expect(seen['put with a stale ifVersion']![0]).toMatchObject({ error: 'VersionConflictError', code: 'version_conflict' });
  });

  // What the SDK never sends, but a raw HTTP caller (or an SDK bug) could: status and code
  // of the refusal must match too, since the SDK's tests inject such answers.
  const RAW: [string, { method: 'GET' | 'PUT' | 'DELETE'; path: string; body?: string }][] = [
    ['a non-canonical id', { method: 'GET', path: '/v1/items/007' }],
    ['an id past int64', { method: 'GET', path: '/v1/items/9223372036854775808' }],
    ['a body that is not JSON', { method: 'PUT', path: '/v1/items/5', body: '{"value":' }],
    ['a body without value', { method: 'PUT', path: '/v1/items/5', body: '{"ifVersion":1}' }],
    ['an unknown route', { method: 'GET', path: '/v1/nothing/5' }],
  ];

  it.each(RAW)('%s: the same status and error code on both', async (_name, req) => {
    const answers = [];
    for (const t of targets) {
      const res = await request(`${t.url}${req.path}`, {
        method: req.method,
        ...(req.body !== undefined ? { body: req.body, headers: { 'content-type': 'application/json' } } : {}),
      });
      const body = (await res.body.json()) as { error?: { code?: string } };
      answers.push({ status: res.statusCode, code: body.error?.code });
    }
    expect(answers[1]).toEqual(answers[0]);
  });
});
