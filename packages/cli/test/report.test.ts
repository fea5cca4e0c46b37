import { describe, expect, it } from '@jest/globals';
import {
  evaluateClaims,
  renderReport,
  renderStrategyTable,
  type DemoReport,
  type ScenarioResult,
} from '../src/index.js';

function result(overrides: Partial<ScenarioResult>): ScenarioResult {
  return {
    strategy: 'serial-guarded',
    scenario: 'plain',
    seed: 1,
    durationMs: 1000,
    ops: 1234,
    okOps: 1200,
    failedOps: 30,
    unknownOps: 4,
    violations: 0,
    violationsByKind: {},
    violationExamples: [],
    keysChecked: 64,
    divergedKeys: 0,
    divergedExamples: [],
    ackedWritesLost: 0,
    lostExamples: [],
    throughputPerSec: 1200,
    p50Ms: 3.25,
    p99Ms: 140,
    ...overrides,
  };
}

describe('evaluateClaims', () => {
  const baselines = [
    result({ strategy: 'cache-aside', violations: 3 }),
    result({ strategy: 'invalidate-first', violations: 9 }),
  ];
  const scenarios = [
    result({ strategy: 'serial', scenario: 'split-view', violations: 2 }),
    result({ strategy: 'serial-guarded', scenario: 'split-view' }),
    result({ strategy: 'serial-guarded', scenario: 'instance-loss' }),
  ];

  it('holds when serial-guarded is clean everywhere and the others are caught', () => {
    expect(evaluateClaims([...baselines, result({})], scenarios)).toEqual({
      serialGuardedSafe: true,
      baselinesViolate: { 'cache-aside': true, 'invalidate-first': true },
      serialViolatesUnderSplitView: true,
    });
  });

  it('fails on any serial-guarded violation, diverged key or lost write, in any run', () => {
    for (const bad of [{ violations: 1 }, { divergedKeys: 1 }, { ackedWritesLost: 1 }]) {
      expect(evaluateClaims([...baselines, result(bad)], scenarios).serialGuardedSafe).toBe(false);
      const badScenario = [...scenarios.slice(0, 2), result({ ...bad, scenario: 'instance-loss' })];
      expect(evaluateClaims([...baselines, result({})], badScenario).serialGuardedSafe).toBe(false);
    }
  });

  it('says when a baseline was not caught, and null for runs that did not happen', () => {
    const claims = evaluateClaims([result({ strategy: 'cache-aside', violations: 0 })], []);
    expect(claims).toEqual({
      serialGuardedSafe: null,
      baselinesViolate: { 'cache-aside': false },
      serialViolatesUnderSplitView: null,
    });
  });
});

describe('rendering', () => {
  it('prints the columns the README explains, numbers right-aligned', () => {
    const table = renderStrategyTable([
      result({ strategy: 'cache-aside', violations: 12_345 }),
      result({}),
    ]);
    expect(table.split('\n')).toEqual([
      '| strategy       |   ops | stale reads (violations) | keys diverged at rest | acked writes lost | throughput |    p50 |    p99 |',
      '|----------------|------:|-------------------------:|----------------------:|------------------:|-----------:|-------:|-------:|',
      '| cache-aside    | 1,234 |                   12,345 |                     0 |                 0 |    1,200/s | 3.3 ms | 140 ms |',
      '| serial-guarded | 1,234 |                        0 |                     0 |                 0 |    1,200/s | 3.3 ms | 140 ms |',
    ]);
  });

  it('ends with the verdict, and names a serial-guarded failure loudly', () => {
    const base: Omit<DemoReport, 'strategies' | 'scenarios' | 'claims'> = {
      reportVersion: 1,
      seed: 1,
      quick: true,
      totalMs: 1000,
      config: {
        instances: 3,
        callers: 16,
        keys: 64,
        hotKeys: 4,
        hotShare: 0.8,
        readShare: 0.7,
        chaos: { fillDelayMs: 30, writeDelayMs: 30 },
        plainMs: 1500,
        splitViewMs: 1500,
        instanceLossMs: 3500,
        fault: { atMs: 800, downMs: 1000 },
        minOperations: 400,
      },
    };
    const bad = [result({ violations: 1, violationExamples: ['[stale-read] key 1: ...'] })];
    const text = renderReport({
      ...base,
      strategies: bad,
      scenarios: [],
      claims: evaluateClaims(bad, []),
    });
    expect(text).toContain('serial-guarded: VIOLATED its guarantee');
    expect(text).toContain('  serial-guarded: [stale-read] key 1: ...');
  });
});
