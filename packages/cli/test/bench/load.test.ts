import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import { runClosedLoop, runOpenLoop } from '../../src/bench/index.js';

describe('runOpenLoop', () => {
  it('charges a stall to every operation due during it (coordinated-omission correction)', async () => {
    // One 300 ms stall at the start of a 1 s window at 200 ops/s: ~60 operations were due
    // while the system was stuck. A closed loop with one caller would record one slow sample.
    const stallUntil = Date.now() + 300;
    const execute = async (): Promise<void> => {
      const wait = stallUntil - Date.now();
      await sleep(wait > 0 ? wait : 1);
    };
    const open = await runOpenLoop({
      ratePerSec: 200,
      durationMs: 1000,
      streams: 1,
      source: () => () => 0,
      execute,
    });
    expect(open.errors).toBe(0);
    expect(open.ops).toBeGreaterThanOrEqual(190);
    expect(open.latency.p50Ms).toBeLessThan(100);
    expect(open.latency.p90Ms).toBeGreaterThan(50);
    expect(open.latency.maxMs).toBeGreaterThan(250);

    const stallUntil2 = Date.now() + 300;
    const closed = await runClosedLoop({
      concurrency: 1,
      durationMs: 1000,
      source: () => () => 0,
      execute: async () => {
        const wait = stallUntil2 - Date.now();
        await sleep(wait > 0 ? wait : 1);
      },
    });
    // The closed loop's p90 hides the stall entirely: one sample of ~300 ms among hundreds.
    expect(closed.latency.p90Ms).toBeLessThan(50);
    expect(closed.latency.maxMs).toBeGreaterThan(250);
  });

  it('counts failures apart from latencies', async () => {
    let n = 0;
    const result = await runOpenLoop({
      ratePerSec: 100,
      durationMs: 200,
      streams: 2,
      source: (s) => () => s,
      execute: async () => {
        n += 1;
        if (n % 2 === 0) throw new Error('boom');
        await sleep(1);
      },
    });
    expect(result.errors).toBe(10);
    expect(result.ops).toBe(10);
    expect(result.firstError).toBe('boom');
  });
});
