import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, startTcpProxy, type TcpProxy, type TestContext } from '@keylane/test-kit';
import { WriteOutcomeUnknownError } from '../src/index.js';
import { engineFor, sleep, type ItemsEngine } from './helpers.js';

describe('a Postgres that stops answering (black hole)', () => {
  let ctx: TestContext;
  let proxy: TcpProxy;
  let viaProxy: string;
  const open: ItemsEngine[] = [];

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_blackhole' });
    const target = new URL(ctx.databaseUrl);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    viaProxy = proxy.via(ctx.databaseUrl);
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
