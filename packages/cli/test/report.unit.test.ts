import { describe, expect, it } from '@jest/globals';
import {
  evaluateClaims,
  renderDemoChart,
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

const BASE_REPORT: Omit<DemoReport, 'strategies' | 'scenarios' | 'claims'> = {
  reportVersion: 1,
  startedAt: '2026-11-26T09:00:00.000Z',
  seed: 1,
  quick: true,
  totalMs: 1000,
  config: {
    deployment: 'routed',
    entity: 'items',
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

describe('renderDemoChart', () => {
  it('draws a group per strategy and a labelled bar per run, zeros included', () => {
    const strategies = [
      result({ strategy: 'cache-aside', violations: 1197 }),
      result({ strategy: 'serial', violations: 0 }),
      result({ strategy: 'serial-guarded', violations: 0 }),
    ];
    const scenarios = [
      result({ strategy: 'serial', scenario: 'split-view', violations: 81 }),
      result({ strategy: 'serial-guarded', scenario: 'split-view' }),
    ];
    const svg = renderDemoChart({
      ...BASE_REPORT,
      quick: false,
      strategies,
      scenarios,
      claims: evaluateClaims(strategies, scenarios),
    });
    expect(svg).toContain('stale reads per strategy (seed 1, 3 instances, 16 callers)');
    const bars = [...svg.matchAll(/<rect class="bar"[^>]*><title>([^:]*):/g)].map((m) => m[1]);
    expect(bars).toEqual([
      'cache-aside / same workload',
      'serial / same workload',
      'serial / split view',
      'serial-guarded / same workload',
      'serial-guarded / split view',
    ]);
    const labels = [...svg.matchAll(/<text class="value"[^>]*>([^<]*)</g)].map((m) => m[1]);
    expect(labels).toEqual(['1.2k', '0', '81', '0', '0']);
    // Only the strategies and scenarios that ran: no instance-loss series, no locked group.
    expect(svg).not.toContain('instance loss');
    expect(svg).not.toContain('>locked<');
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
    const base = BASE_REPORT;
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
