import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, startTcpProxy, type TcpProxy, type TestContext } from '@keylane/harness';
import pg from 'pg';
import { STALL_AFTER_MS } from '../src/db/stall-watch.js';
import { WriteOutcomeUnknownError, type EngineLogger } from '../src/index.js';
import { engineFor, rejection, sleep, waitFor, type ItemsEngine } from './helpers.js';

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

/** Collects what the engine logs. */
function recordingLogger(): EngineLogger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  return {
    lines,
    warn: (_fields, message) => lines.push({ level: 'warn', message }),
    info: (_fields, message) => lines.push({ level: 'info', message }),
  };
}

describe('after a partition healed: lanes whose old sockets still wait (the stall watch)', () => {
  let ctx: TestContext;
  let proxy: TcpProxy;
  let viaProxy: string;
  const open: ItemsEngine[] = [];

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_stall' });
    const target = new URL(ctx.databaseUrl);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    viaProxy = proxy.via(ctx.databaseUrl);
  });
  afterAll(async () => {
    proxy.cutAll();
    await Promise.all(open.map((e) => e.close()));
    await proxy.close();
    await ctx.dispose();
  });

  it('readiness stays down while a lane waits; the dead connection is dropped within seconds, logged, and the lane serves again', async () => {
    const logger = recordingLogger();
    // The default statement timeout (30 s): without the watch the lane would wait 60 s.
    const e = await engineFor(ctx, { lanes: 1, logger, postgres: { connectionString: viaProxy } }, '_stall');
    open.push(e);
    await e.write(1n, 'before');
    proxy.strandOpen();
    const started = Date.now();
    let pending = true;
    const write = rejection(e.write(1n, 'sent into the hole')).finally(() => (pending = false));
    // Readiness polled all along: a fresh probe connection works (the pool's stranded one is
    // dropped by its own timeout), yet once the lane has waited past the stall bound it must
    // not say ready until the lane serves again.
    const answers: { atMs: number; ready: boolean; problems: string }[] = [];
    while (pending) {
      const asked = Date.now() - started;
      const health = await e.health();
      if (pending) answers.push({ atMs: asked, ready: health.postgres, problems: health.problems.join('; ') });
      await sleep(100);
    }
    expect(answers.filter((a) => a.ready && a.atMs > STALL_AFTER_MS + 50)).toEqual([]);
    expect(answers.some((a) => /lane 0 has had no answer for \d+ ms/.test(a.problems))).toBe(true);
    const err = await write;
    const waited = Date.now() - started;
    // The lane was dropped with the statement unanswered (no COMMIT was sent).
    expect(err).toMatchObject({ code: 'unavailable' });
    expect(waited).toBeLessThan(8_000);
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: expect.stringMatching(/^lane 0 dropped its Postgres connection after \d+ ms without an answer: its backend \(pid \d+\) has been idle/),
    });
    expect(logger.lines).toContainEqual({ level: 'warn', message: expect.stringMatching(/^postgres unreachable/) });
    expect(await e.write(1n, 'after')).toMatchObject({ value: 'after' });
    await waitFor(async () => (await e.health()).postgres);
    expect(logger.lines.at(-1)).toEqual({ level: 'info', message: 'postgres reachable again' });
  }, 30_000);

  it('a statement that is merely slow (waiting for a row lock) is left alone', async () => {
    const logger = recordingLogger();
    const e = await engineFor(ctx, { lanes: 1, logger, postgres: { connectionString: viaProxy } }, '_slow');
    open.push(e);
    await e.write(2n, 'before');
    const locker = new pg.Client({ connectionString: ctx.databaseUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM ${ctx.schema}.items WHERE id = 2 FOR UPDATE`);
      const write = e.write(2n, 'after the lock');
      await sleep(3_500);
      // The watch saw the backend running the statement: slow, not dead, so still ready.
      expect((await e.health()).postgres).toBe(true);
      await locker.query('COMMIT');
      expect(await write).toMatchObject({ value: 'after the lock' });
    } finally {
      await locker.end();
    }
    expect(logger.lines).toEqual([]);
  }, 30_000);
});
