import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DEADLINE_HEADER, errorBody } from '@keylane/protocol';
import { ConnectionError, InvalidOptionsError, InvalidValueError, OverloadedError, createClient, type KeylaneClient } from '../src/index.js';
import { keyStream, startFleet, stopFleet, type ItemServer } from './helpers/item-server.js';

/**
 * `client.request` on real HTTP servers: a route of some other service (`/v1/things/...`),
 * the retry rule by method after a connection that broke with the request delivered, and
 * after a refused connection. The end-to-end run on the real cart service is
 * services/cart-service/test/sdk-request.test.ts.
 */

let servers: ItemServer[];
let client: KeylaneClient;
const received: string[] = [];

beforeEach(async () => {
  servers = await startFleet(3);
  received.length = 0;
  for (const s of servers) {
    s.intercept = (req, res, body) => {
      if (req.url?.startsWith('/v1/things/') !== true) return false;
      received.push(`${s.name} ${String(req.method)} ${req.url} ${String(req.headers['x-tenant'])} ${req.headers[DEADLINE_HEADER] === undefined ? 'no-deadline' : 'deadline'} ${body}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ served: s.name }));
      return true;
    };
  }
  client = createClient({
    instances: servers.map((s) => ({ id: s.name, url: s.url })),
    healthCheck: { intervalMs: 60_000, timeoutMs: 1000 },
    requestTimeoutMs: 1500,
  });
  await client.ready();
});
afterEach(async () => {
  await client.close();
  await stopFleet(servers);
});

const server = (id: string) => servers.find((s) => s.name === id)!;
const ownedBy = (id: string) => [...keyStream(3n, 2000)].find((k) => client.getServiceConnection(k).instanceId === id)!;
/** The owner reads the whole request, then drops the connection without answering. */
function breakAfterReceiving(s: ItemServer): void {
  const answer = s.intercept!;
  s.intercept = (req, res, body) => {
    if (req.url?.startsWith('/v1/things/') !== true) return answer(req, res, body);
    received.push(`${s.name} ${String(req.method)} dropped`);
    res.socket?.destroy();
    return true;
  };
}

describe('client.request', () => {
  it("sends the key's owner the method, path, JSON body, caller headers and the deadline", async () => {
    const key = ownedBy('item-2');
    const answer = await client.request(key, { method: 'POST', path: `/v1/things/${key}?x=1`, body: { n: 1 }, headers: { 'X-Tenant': 't1' } });
    expect(answer).toMatchObject({ status: 200, instanceId: 'item-2', body: { served: 'item-2' } });
    expect(received).toEqual([`item-2 POST /v1/things/${key}?x=1 t1 deadline {"n":1}`]);
  });

  it('sends a GET whose connection broke after delivery to the next owner; never a POST', async () => {
    const key = ownedBy('item-1');
    breakAfterReceiving(server('item-1'));
    const read = await client.request(key, { path: `/v1/things/${key}` });
    expect(read.status).toBe(200);
    expect(read.instanceId).not.toBe('item-1');
    const write = client.request(key, { method: 'POST', path: `/v1/things/${key}`, body: { n: 2 } });
    await expect(write).rejects.toThrow(ConnectionError);
    await expect(write).rejects.toMatchObject({ sent: true });
    // The POST reached item-1 only: it may have done its work there, so it was not repeated.
    expect(received.filter((r) => r.includes('POST'))).toEqual(['item-1 POST dropped']);
  });

  it('sends a POST whose connection was refused (nothing sent) to the next owner', async () => {
    const key = ownedBy('item-3');
    await server('item-3').kill();
    const write = await client.request(key, { method: 'POST', path: `/v1/things/${key}`, body: { n: 3 } });
    expect(write.status).toBe(200);
    expect(write.instanceId).not.toBe('item-3');
    expect(received).toHaveLength(1);
  });

  it('rejects a 5xx registry answer with the error get/put give, and resolves a 4xx', async () => {
    const key = ownedBy('item-1');
    server('item-1').intercept = (req, res) => {
      if (req.url === '/healthz/ready') return false;
      if (req.url?.endsWith('/busy') === true) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '2' }).end(JSON.stringify(errorBody('overloaded', 'lane full')));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify(errorBody('not_found', 'no such thing')));
      }
      return true;
    };
    await expect(client.request(key, { path: '/v1/things/busy' })).rejects.toMatchObject({ code: 'overloaded', retryAfterMs: 2000 });
    await expect(client.request(key, { path: '/v1/things/busy' })).rejects.toThrow(OverloadedError);
    await expect(client.request(key, { path: '/v1/things/none' })).resolves.toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
  });

  it.each([
    [{ path: 'v1/things' }, 'path'],
    [{ path: '//evil.example/x' }, 'path'],
    [{ path: '/a b' }, 'path'],
    [{ method: 'post', path: '/x' }, 'method'],
    [{ path: '/x', headers: { [DEADLINE_HEADER]: '1' } }, 'headers'],
    [{ path: '/x', headers: { host: 'other' } }, 'headers'],
    [{ path: '/x', headers: { 'x-a': 'b\r\nx-injected: 1' } }, 'headers'],
    [{ path: '/x', body: { n: Number.NaN } }, undefined],
  ])('refuses %j before sending anything', async (options, option) => {
    const refusal = client.request(1, options);
    await expect(refusal).rejects.toThrow(option === undefined ? InvalidValueError : InvalidOptionsError);
    if (option !== undefined) await expect(refusal).rejects.toMatchObject({ option });
    expect(received).toEqual([]);
  });
});
