import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startPostgresPair, TEST_REDIS_URL, type PostgresPair } from '@keylane/harness';
import { setTimeout as sleep } from 'node:timers/promises';
// From dist: the embedded processes are forked from the built embedded-child.js.
import { runEmbedded, type EmbeddedRunOptions, type ScenarioResult } from '../dist/index.js';

/**
 * The demo's workload (4 processes each embedding the engine, 16 seeded callers, the demo's
 * chaos delays, the merged history checked, the data compared at rest) with every miss
 * allowed to read a real streaming replica that replays each commit 250 ms late. The naive
 * split (misses read the replica whatever it replayed) is caught; the watermark rule is
 * clean, and says what share of the misses the replica served, also with the replica stopped
 * and started again mid-run.
 */
let pair: PostgresPair;

beforeAll(async () => {
  pair = await startPostgresPair({ applyDelayMs: 250 });
}, 60_000);

afterAll(async () => {
  await pair?.dispose();
});

function run(reads: 'watermark' | 'naive', durationMs: number): Promise<ScenarioResult> {
  const options: EmbeddedRunOptions = {
    strategy: 'serial-guarded',
    databaseUrl: pair.primary.url,
    redisUrl: TEST_REDIS_URL,
    seed: 11,
    durationMs,
    minOperations: 1_500,
    // Short-lived entries keep the reads missing: misses are what a replica serves.
    cacheTtlMs: 50,
    lanes: 2,
    replica: { url: pair.replica.url, reads },
  };
  return runEmbedded(options);
}

function brief(r: ScenarioResult): string {
  return JSON.stringify({ ops: r.ops, violations: r.violationsByKind, diverged: r.divergedKeys, replica: r.replicaReads, examples: r.violationExamples });
}

describe('the demo workload with replica reads', () => {
  it('the naive split serves stale reads; the watermark none, and the replica serves misses', async () => {
    const naive = await run('naive', 3_000);
    const guarded = await run('watermark', 3_000);
    if (process.env['KEYLANE_VERBOSE']) console.log(`naive: ${brief(naive)}\nwatermark: ${brief(guarded)}`);
    expect(naive.violations).toBeGreaterThan(0);
    expect(naive.replicaReads?.served).toBeGreaterThan(0);
    expect({ violations: guarded.violations, diverged: guarded.divergedKeys, lost: guarded.ackedWritesLost }).toEqual({
      violations: 0,
      diverged: 0,
      lost: 0,
    });
    expect(guarded.replicaReads?.served).toBeGreaterThan(0);
  }, 90_000);

  it('with the replica stopped and started again mid-run: still clean, misses fell back to the primary', async () => {
    const [result] = await Promise.all([
      run('watermark', 5_000),
      (async () => {
        await sleep(2_500);
        await pair.replica.stop();
        await sleep(1_500);
        await pair.replica.start();
      })(),
    ]);
    if (process.env['KEYLANE_VERBOSE']) console.log(`restart: ${brief(result)}`);
    expect({ violations: result.violations, diverged: result.divergedKeys, lost: result.ackedWritesLost }).toEqual({
      violations: 0,
      diverged: 0,
      lost: 0,
    });
    expect(result.replicaReads?.unavailable).toBeGreaterThan(0);
    expect(result.replicaReads?.served).toBeGreaterThan(0);
  }, 90_000);
});
