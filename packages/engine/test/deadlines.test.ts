import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OverloadedError } from '@keylane/protocol';
import { createTestContext, startRedisServer, type RedisServerHandle, type TestContext } from '@keylane/harness';
import { Redis } from 'ioredis';
import { createEngine } from '../src/baselines.js';
import { CallerDeadlineError, type Engine } from '../src/index.js';
import { createItems, ensureItemsTable } from '../src/items/index.js';
import { engineFor, optionsFor, rejection, sleep, waitFor, type ItemsEngine } from './helpers.js';
import { inspect } from '../src/testing.js';

/** Caller deadlines through the lanes and the fence, and the Redis-restart hold on fills. */
describe("the caller's deadline", () => {
  let ctx: TestContext;
  const open: ItemsEngine[] = [];
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_deadlines' });
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.close()));
    await ctx.dispose();
  });

  it('a lane that cannot reach a job in time refuses it as overloaded before the deadline, and runs the rest', async () => {
    // One lane, each write held 100 ms: 20 writes are 2 s of work; callers allow 500 ms.
    const e = await engineFor(ctx, { lanes: 1, chaos: { writeDelayMs: 100 } }, '_admit');
    open.push(e);
    await e.write(1, 'warm'); // teaches the lane how long a job takes
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        e.write(1, i, { deadline: started + 500 }).then(
          () => ({ ok: true, err: undefined, at: Date.now() }),
          (err: Error) => ({ ok: false, err, at: Date.now() }),
        ),
      ),
    );
    const refused = results.filter((r) => r.err instanceof OverloadedError);
    // A job the lane started in time but that ran longer than its recent ones may still meet
    // the fence: refused too (nothing committed), just not ahead of time.
    const late = results.filter((r) => r.err instanceof CallerDeadlineError);
    expect(results.filter((r) => r.ok).length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(10);
    expect(late.length).toBeLessThanOrEqual(1);
    expect(refused.length + late.length + results.filter((r) => r.ok).length).toBe(20);
    for (const r of refused) {
      expect((r.err as OverloadedError).retryAfterMs).toBeGreaterThanOrEqual(100);
      // Answered before the caller's own timer would fire.
      expect(r.at).toBeLessThan(started + 500);
    }
    expect(e.stats().overloaded).toBe(refused.length);
    // What committed is what was acknowledged: the version counts the acknowledged writes.
    expect((await e.inspect(1)).stored?.version).toBe(1 + results.filter((r) => r.ok).length);
  });

  it('a queued job whose caller went away leaves the queue and never runs', async () => {
    const e = await engineFor(ctx, { lanes: 1, chaos: { writeDelayMs: 150 } }, '_gone');
    open.push(e);
    const first = e.write(2, 'first');
    const gone = new AbortController();
    const second = rejection(e.write(2, 'second', { signal: gone.signal }));
    await sleep(20);
    gone.abort(new Error('the caller closed its connection'));
    expect((await second).message).toBe('the caller closed its connection');
    await first;
    await sleep(200); // had it stayed queued, it would have run by now
    expect(await rowValue(ctx, 2)).toEqual({ value: 'first', version: '1' });
  });

  it("a mutation cannot commit after its caller's deadline, even when the marker would still allow it", async () => {
    // The marker allows 10 s; the caller allows 300 ms; the COMMIT is held 500 ms.
    const e = await engineFor(ctx, { lanes: 1, chaos: { commitDelayMs: 500 } }, '_fence');
    open.push(e);
    await e.write(3, 'before');
    const err = await rejection(e.write(3, 'late', { deadline: Date.now() + 300 }));
    expect(err).toBeInstanceOf(CallerDeadlineError);
    expect(err.code).toBe('deadline_exceeded');
    expect(err.message).toMatch(/commit fence.*nothing was committed/);
    expect(await rowValue(ctx, 3)).toEqual({ value: 'before', version: '1' });
    expect(e.stats().deadlinesExceeded).toBe(1);
  });
});

describe('Redis returning as another server (markers lost)', () => {
  let ctx: TestContext;
  let server: RedisServerHandle;
  const engines: Engine[] = [];
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_lost_marker' });
    server = await startRedisServer();
    await ensureItemsTable(ctx.pg, ctx.schema);
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.close()));
    await server.stop();
    await ctx.dispose();
  });

  /**
   * A writer's marker is lost with a Redis restart while its transaction waits; a reader on
   * another engine misses after the restart; the writer commits, and its write end fails (its
   * Redis link dies at that moment). Returns what the cache holds against the table.
   */
  async function lostMarker(id: number, ignoreRedisRestarts: boolean) {
    const writerRedis = new Redis(server.url, { enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => 50 });
    writerRedis.on('error', () => undefined);
    await writerRedis.connect();
    const writer = await createEngine({
      ...optionsFor(ctx, { markerTtlMs: 3_000, chaos: { writeDelayMs: 700, commitDelayMs: 1_500 } }),
      redis: { client: writerRedis, keyPrefix: `${ctx.prefix}_lost${id}` },
    });
    const reader = await createEngine(
      optionsFor(ctx, { markerTtlMs: 3_000, chaos: { ignoreRedisRestarts }, redis: { url: server.url, commandTimeoutMs: 500 } }, `_lost${id}`),
    );
    engines.push(writer, reader);
    const [w, r] = [createItems(writer, { schema: ctx.schema }), createItems(reader, { schema: ctx.schema })];
    await w.write(id, 'old');
    const write = w.write(id, 'new').then(
      () => 'acknowledged',
      (err: Error) => err.message,
    );
    await sleep(100); // the marker is up, the writer waits before its transaction
    await server.stop();
    await server.start(); // empty: the marker is gone
    await waitFor(() => writerRedis.status === 'ready');
    await waitFor(async () => (await reader.health()).redis);
    // After the restart the reader misses: the old row is all the DB has yet.
    expect((await r.read(id))?.value).toBe('old');
    // The writer's link dies while its COMMIT is held (until ~2.2 s), so its end cannot clean up.
    await sleep(500);
    writerRedis.disconnect();
    await write;
    const cached = (await inspect(r.entity, id)).cached;
    const stored = (await inspect(r.entity, id)).stored;
    return { cached, stored, held: reader.stats().fillsHeld };
  }

  it('holds fills for a marker life after a restart: no stale entry, though the writer could not clean up', async () => {
    const { cached, stored, held } = await lostMarker(1, false);
    expect(stored?.value).toBe('new');
    expect(cached).toBeUndefined();
    expect(held).toBeGreaterThan(0);
  });

  it('the unsafe twin, filling at once after the restart, keeps the old value for the TTL', async () => {
    const { cached, stored } = await lostMarker(2, true);
    expect(stored?.value).toBe('new');
    expect(cached?.value).toBe('old');
  });
});

async function rowValue(ctx: TestContext, id: number): Promise<unknown> {
  const { rows } = await ctx.pg.query<{ value: unknown; version: string }>(
    `SELECT value, version::text AS version FROM "${ctx.schema}".items WHERE id = $1`,
    [id],
  );
  return rows[0];
}
