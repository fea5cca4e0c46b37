import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/test-kit';
import { WriteOutcomeUnknownError } from '../src/index.js';
import { engineFor, sleep, type ItemsEngine } from './helpers.js';

/**
 * A TCP proxy to Postgres that can turn into a black hole: bytes in both directions are
 * dropped, no FIN, no RST, as a network partition looks to a client.
 */
class BlackHoleProxy {
  blackHole = false;
  private readonly sockets = new Set<Socket>();
  private constructor(private readonly server: Server) {}

  static async start(target: URL): Promise<{ proxy: BlackHoleProxy; port: number }> {
    const server = createServer();
    const proxy = new BlackHoleProxy(server);
    server.on('connection', (client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        proxy.sockets.add(from);
        from.on('data', (chunk) => {
          if (!proxy.blackHole) to.write(chunk);
        });
        from.on('error', () => to.destroy());
        from.on('close', () => {
          proxy.sockets.delete(from);
          to.destroy();
        });
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('proxy has no port');
    return { proxy, port: address.port };
  }

  /** Cuts every proxied connection (a reset), e.g. to release a client stuck in the hole. */
  cutAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('a Postgres that stops answering (black hole)', () => {
  let ctx: TestContext;
  let proxy: BlackHoleProxy;
  let viaProxy: string;
  const open: ItemsEngine[] = [];

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_blackhole' });
    const started = await BlackHoleProxy.start(new URL(ctx.databaseUrl));
    const url = new URL(ctx.databaseUrl);
    proxy = started.proxy;
    url.host = `127.0.0.1:${started.port}`;
    viaProxy = url.toString();
  });
  afterAll(async () => {
    proxy.blackHole = false;
    proxy.cutAll();
    await Promise.all(open.map((e) => e.close()));
    await proxy.close();
    await ctx.dispose();
  });

  it('with statementTimeoutMs set: the write fails (nothing committed) and the lane reconnects', async () => {
    const e = await engineFor(ctx, { lanes: 1, postgres: { connectionString: viaProxy, statementTimeoutMs: 300 } }, '_bh');
    open.push(e);
    await e.write(1n, 'before');
    proxy.blackHole = true;
    const started = Date.now();
    const err = await e.write(1n, 'into the hole').then(
      () => undefined,
      (error: Error) => error,
    );
    const waited = Date.now() - started;
    // Its BEGIN went into the hole: no COMMIT was sent, so nothing can have committed.
    expect(err).toMatchObject({ code: 'unavailable' });
    expect(err).not.toBeInstanceOf(WriteOutcomeUnknownError);
    expect(err?.message).toMatch(/nothing was committed/);
    // 300 ms statement timeout, then the client-side one at twice that, at least 1 s more.
    expect(waited).toBeGreaterThanOrEqual(1_300);
    expect(e.stats().lanes[0]?.connected).toBe(false);
    proxy.blackHole = false;
    // The next job opens a new connection through the (healed) proxy.
    expect(await e.write(1n, 'after')).toMatchObject({ value: 'after' });
    expect(e.stats().lanes[0]?.connected).toBe(true);
  });

  it('a COMMIT that goes into the hole leaves the outcome unknown', async () => {
    const e = await engineFor(
      ctx,
      { lanes: 1, postgres: { connectionString: viaProxy, statementTimeoutMs: 300 }, chaos: { commitDelayMs: 200 } },
      '_bh_commit',
    );
    open.push(e);
    await e.write(3n, 'before');
    // The statement is answered; the hole opens while the write waits to send its COMMIT.
    const write = e.write(3n, 'into the hole').then(
      () => undefined,
      (error: Error) => error,
    );
    await sleep(100);
    proxy.blackHole = true;
    const err = await write;
    expect(err).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(err?.message).toMatch(/may or may not have committed/);
    expect(e.stats().writesUnknown).toBe(1);
    proxy.blackHole = false;
    proxy.cutAll();
    expect(await e.write(3n, 'after')).toMatchObject({ value: 'after' });
  });

  it('with statementTimeoutMs 0 (none): the lane stays stuck as long as the hole lasts', async () => {
    const e = await engineFor(ctx, { lanes: 1, postgres: { connectionString: viaProxy, statementTimeoutMs: 0 } }, '_bh0');
    open.push(e);
    await e.write(2n, 'before');
    proxy.blackHole = true;
    let settled = false;
    const write = e.write(2n, 'into the hole').then(
      () => (settled = true),
      () => (settled = true),
    );
    await sleep(2_500);
    expect(settled).toBe(false);
    // Only a reset ends it.
    proxy.blackHole = false;
    proxy.cutAll();
    await write;
    expect(settled).toBe(true);
  });
});
