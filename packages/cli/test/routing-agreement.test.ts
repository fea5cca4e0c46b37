import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEngine, type Engine } from '@keylane/engine';
import { createClient, type KeylaneClient } from '@keylane/sdk';
import { createTestContext, type TestContext } from '@keylane/harness';
import fc from 'fast-check';

/**
 * A caller and an instance must put a string key in the same place without configuration: the
 * SDK's getServiceConnection over N instances and an engine's lanes (N of them) both take the
 * key's routing key modulo N. Checked on the real client (healthy over real HTTP servers) and
 * the real engine, on 100,000 random strings.
 */
const N = 16;

describe('string-key routing: SDK and engine agree', () => {
  let ctx: TestContext;
  let servers: Server[];
  let client: KeylaneClient;
  let engine: Engine;

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'cli_routing' });
    servers = await Promise.all(
      Array.from({ length: N }, async () => {
        const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ready":true}'));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        return server;
      }),
    );
    // Ids chosen so that their sorted order (the routing order) is the index order.
    const instances = servers.map((s, i) => ({ id: `i${String(i).padStart(2, '0')}`, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` }));
    client = createClient({ instances, routing: 'modulo' });
    await client.ready();
    engine = await createEngine({
      postgres: { connectionString: ctx.databaseUrl },
      redis: { url: ctx.redisUrl, keyPrefix: ctx.prefix },
      lanes: N,
    });
  });
  afterAll(async () => {
    await client?.close();
    await engine?.close();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await ctx.dispose();
  });

  it('on 100,000 random string keys', () => {
    const sessions = engine.entity<string, 'string'>({ name: 'sessions', key: 'string', load: () => Promise.resolve(null) });
    const keys = [
      ...fc.sample(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }), 50_000),
      ...Array.from({ length: 50_000 }, () => randomBytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')),
    ];
    let disagreements = 0;
    for (const key of keys) {
      const instance = Number(client.getServiceConnection(key).instanceId.slice(1));
      if (instance !== sessions.laneOf(key) || instance !== engine.laneOf(key)) disagreements += 1;
    }
    expect(keys).toHaveLength(100_000);
    expect(disagreements).toBe(0);
  });
});
