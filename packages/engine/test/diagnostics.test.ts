import { tracingChannel } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/harness';
import { ENGINE_CHANNELS } from '../src/index.js';
import { engineFor, type ItemsEngine } from './helpers.js';

type EventName = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';
interface Seen {
  channel: keyof typeof ENGINE_CHANNELS;
  event: EventName;
  context: Record<string, unknown>;
}

/** Subscribes to every engine channel; events of other engines in the process are ignored. */
function record(engineId: number): { events: Seen[]; stop(): void } {
  const events: Seen[] = [];
  const stops: (() => void)[] = [];
  for (const [channel, name] of Object.entries(ENGINE_CHANNELS) as [keyof typeof ENGINE_CHANNELS, string][]) {
    const tc = tracingChannel<unknown, Record<string, unknown>>(name);
    const on = (event: EventName) => (context: Record<string, unknown>) => {
      if (context['engine'] === engineId) events.push({ channel, event, context: { ...context } });
    };
    const handlers = {
      start: on('start'),
      end: on('end'),
      asyncStart: on('asyncStart'),
      asyncEnd: on('asyncEnd'),
      error: on('error'),
    };
    tc.subscribe(handlers);
    stops.push(() => tc.unsubscribe(handlers));
  }
  return { events, stop: () => stops.forEach((s) => s()) };
}

const where = (events: Seen[], channel: Seen['channel'], event: EventName): number =>
  events.findIndex((e) => e.channel === channel && e.event === event);

describe('engine diagnostics channels (real Postgres and Redis)', () => {
  let ctx: TestContext;
  let engine: ItemsEngine;
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_diagnostics' });
    engine = await engineFor(ctx, { lanes: 2 });
  });
  afterAll(async () => {
    await engine?.close();
    await ctx?.dispose();
  });

  it('a mutation: mutate starts, waits in its lane, then the marker script, the transaction and its statements, the end script', async () => {
    const rec = record(engine.engine.id);
    try {
      await engine.write(7n, { v: 1 });
    } finally {
      rec.stop();
    }
    const { events } = rec;
    const order = [
      where(events, 'mutate', 'start'),
      where(events, 'laneWait', 'start'),
      where(events, 'laneWait', 'asyncEnd'),
      where(events, 'redisScript', 'start'), // writeBegin
      where(events, 'transaction', 'start'),
      where(events, 'query', 'start'),
      where(events, 'transaction', 'asyncEnd'),
      where(events, 'mutate', 'asyncEnd'),
    ];
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const mutate = events.find((e) => e.channel === 'mutate' && e.event === 'asyncEnd')!.context;
    expect(mutate).toMatchObject({ entity: 'items', key: '7', lane: engine.laneOf(7n) });
    expect(events.find((e) => e.channel === 'transaction' && e.event === 'asyncEnd')!.context['committed']).toBe('yes');
    const scripts = events.filter((e) => e.channel === 'redisScript' && e.event === 'start').map((e) => e.context['script']);
    expect(scripts).toEqual(['writeBegin', 'writeEnd']);
    const statements = events.filter((e) => e.channel === 'query' && e.event === 'start').map((e) => e.context['text']);
    expect(statements[0]).toMatch(/^BEGIN/);
    expect(statements.at(-1)).toMatch(/COMMIT/);
    expect(events.find((e) => e.channel === 'query')!.context['lane']).toBe(engine.laneOf(7n));
    expect(events.some((e) => e.event === 'error')).toBe(false);
  });

  it('a hit is one read span with hit true and nothing inside; a miss has miss, lane wait, lease, loader and fill inside', async () => {
    await engine.write(8n, 'eight');
    await engine.read(8n);
    const rec = record(engine.engine.id);
    try {
      await engine.read(8n); // hit
      await engine.items.entity.invalidate(8n);
      await engine.read(8n); // miss
    } finally {
      rec.stop();
    }
    const { events } = rec;
    const reads = events.filter((e) => e.channel === 'read' && e.event === 'asyncEnd').map((e) => e.context);
    expect(reads.map((r) => r['hit'])).toEqual([true, false]);
    const firstReadEnd = where(events, 'read', 'asyncEnd');
    // start, end, asyncStart of the hit: no lane, no script, no statement in between.
    expect(events.slice(0, firstReadEnd).map((e) => `${e.channel}:${e.event}`)).toEqual(['read:start', 'read:end', 'read:asyncStart']);
    const miss = events.slice(firstReadEnd + 1);
    const order = [
      where(miss, 'read', 'start'),
      where(miss, 'miss', 'start'),
      where(miss, 'laneWait', 'start'),
      where(miss, 'laneWait', 'asyncEnd'),
      where(miss, 'lease', 'start'),
      where(miss, 'lease', 'asyncEnd'),
      where(miss, 'fill', 'start'),
      where(miss, 'fill', 'asyncEnd'),
      where(miss, 'miss', 'asyncEnd'),
      where(miss, 'read', 'asyncEnd'),
    ];
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(miss.find((e) => e.channel === 'lease' && e.event === 'asyncEnd')!.context['outcome']).toBe('granted');
    expect(miss.find((e) => e.channel === 'fill' && e.event === 'asyncEnd')!.context['outcome']).toBe('stored');
    expect(miss.find((e) => e.channel === 'miss')!.context).toMatchObject({ entity: 'items', key: '8', cacheUsable: true });
    // The loader's SELECT ran on the lane between the lease and the fill.
    const select = miss.findIndex((e) => e.channel === 'query' && e.event === 'start' && /SELECT/i.test(String(e.context['text'])));
    expect(select).toBeGreaterThan(where(miss, 'lease', 'asyncEnd'));
    expect(select).toBeLessThan(where(miss, 'fill', 'start'));
  });

  it('a failing mutation publishes error on mutate with the error, and the transaction committed nothing', async () => {
    const rec = record(engine.engine.id);
    await expect(
      engine.items.entity.mutate(9n, async (tx) => {
        await tx.query('SELECT 1');
        throw new Error('refused by the callback');
      }),
    ).rejects.toThrow('refused by the callback');
    rec.stop();
    const { events } = rec;
    const error = events.find((e) => e.channel === 'mutate' && e.event === 'error')!;
    expect((error.context['error'] as Error).message).toBe('refused by the callback');
    expect(events.find((e) => e.channel === 'transaction' && e.event === 'asyncEnd')!.context['committed']).toBe('no');
    expect(where(events, 'mutate', 'error')).toBeLessThan(where(events, 'mutate', 'asyncEnd'));
  });

  it('a job that leaves its lane at its deadline ends its lane wait with error', async () => {
    const lane = engine.laneOf(10n);
    // Another key on the same lane (a read of 10n itself would wait for the mutation's value instead).
    let other = 11n;
    while (engine.laneOf(other) !== lane) other += 1n;
    // Hold the lane with a slow mutation, then queue a read that cannot wait that long.
    const slow = engine.items.entity.mutate(10n, async (tx) => {
      await tx.query('SELECT pg_sleep(0.4)');
      return undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const rec = record(engine.engine.id);
    await engine.items.entity.invalidate(other);
    await expect(engine.items.entity.get(other, { deadline: Date.now() + 150 })).rejects.toMatchObject({ code: 'overloaded' });
    rec.stop();
    await slow;
    const waits = rec.events.filter((e) => e.channel === 'laneWait');
    expect(waits.map((e) => e.event)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect(waits[0]!.context).toMatchObject({ lane, ahead: 1 });
    expect((waits[2]!.context['error'] as { code: string }).code).toBe('overloaded');
  });

  it('publishes nothing once unsubscribed', async () => {
    const rec = record(engine.engine.id);
    rec.stop();
    await engine.write(11n, 1);
    await engine.read(11n);
    expect(rec.events).toEqual([]);
    for (const name of Object.values(ENGINE_CHANNELS)) expect(tracingChannel(name).hasSubscribers).toBe(false);
  });
});
