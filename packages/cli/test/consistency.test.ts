import { describe, expect, it } from '@jest/globals';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '@keylane/harness';
import { runScenario, type ScenarioOptions, type ScenarioResult } from '../src/index.js';

// Each test starts its own 3-instance fleet with the launcher, on a fresh schema and key
// prefix, runs the seeded workload through real SDK clients with chaos delays on, and checks
// the recorded history, the data at rest and the acknowledged writes. The baselines run in
// the same harness to show it catches what it claims to.

const common = {
  databaseUrl: TEST_DATABASE_URL,
  redisUrl: TEST_REDIS_URL,
  seed: 7,
  durationMs: 2_500,
  // On a busy machine a short run may do little; keep going until enough work was done.
  minOperations: 600,
} satisfies Partial<ScenarioOptions>;

function describeResult(r: ScenarioResult): string {
  return JSON.stringify(
    {
      ops: r.ops,
      violations: r.violations,
      diverged: r.divergedKeys,
      lost: r.ackedWritesLost,
      examples: [...r.violationExamples, ...r.divergedExamples, ...r.lostExamples],
    },
    null,
    1,
  );
}

function expectClean(r: ScenarioResult): void {
  // The message carries the checker's explanation when this fails.
  expect({
    violations: r.violations,
    diverged: r.divergedKeys,
    lost: r.ackedWritesLost,
    detail: r.violations + r.divergedKeys + r.ackedWritesLost > 0 ? describeResult(r) : '',
  }).toEqual({
    violations: 0,
    diverged: 0,
    lost: 0,
    detail: '',
  });
  expect(r.okOps).toBeGreaterThan(100); // it did real work
}

describe('consistency on a real 3-instance fleet', () => {
  it('serial-guarded: no violation, no diverged key, no lost acknowledged write (plain)', async () => {
    const r = await runScenario({ ...common, strategy: 'serial-guarded', scenario: 'plain' });
    expectClean(r);
    expect(r.keysChecked).toBeGreaterThan(10);
  }, 60_000);

  it('invalidate-first: the checker catches stale reads in the same harness', async () => {
    const r = await runScenario({ ...common, strategy: 'invalidate-first', scenario: 'plain' });
    expect(r.violations).toBeGreaterThan(0);
    expect(r.violationExamples[0]).toMatch(/^\[(stale-read|order)\] key -?\d+: /);
  }, 60_000);

  it('cache-aside: the checker catches stale reads in the same harness', async () => {
    const r = await runScenario({ ...common, strategy: 'cache-aside', scenario: 'plain' });
    expect(r.violations).toBeGreaterThan(0);
  }, 60_000);

  it('serial: lanes alone break down under split view (two instances own a key)', async () => {
    const r = await runScenario({ ...common, strategy: 'serial', scenario: 'split-view' });
    expect(r.violations).toBeGreaterThan(0);
  }, 60_000);

  it('serial-guarded: still clean under split view', async () => {
    const r = await runScenario({ ...common, strategy: 'serial-guarded', scenario: 'split-view' });
    expectClean(r);
  }, 60_000);

  it('serial-guarded: still clean when an instance is SIGKILLed mid-run and restarted', async () => {
    const r = await runScenario({
      ...common,
      strategy: 'serial-guarded',
      scenario: 'instance-loss',
      durationMs: 5_000,
      minOperations: 0,
      fault: { atMs: 1_200, downMs: 1_500 },
    });
    expectClean(r);
    expect(r.fault).toBeDefined();
    expect(r.fault!.restartedAtMs).not.toBeNull();
    expect(r.fault!.restartedAtMs!).toBeGreaterThan(r.fault!.killedAtMs);
    // Its keys were served again (by the others, then by it) after the kill.
    expect(r.fault!.rerouteMs).not.toBeNull();
  }, 90_000);
});
