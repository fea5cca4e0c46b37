import type { StrategyName } from '@keylane/engine';
import type { DemoEntity } from './entities.js';
import type { ScenarioResult } from './scenario/index.js';
import { formatCount, formatMs, renderTable } from './table.js';

/**
 * `routed`: a fleet of item-service instances behind the SDK. `embedded`: processes that each
 * embed the engine, no fleet.
 */
export type Deployment = 'routed' | 'embedded';
export const DEPLOYMENTS: readonly Deployment[] = ['routed', 'embedded'];

/** What `keylane demo --json` prints: everything the tables show, and the claims checked. */
export interface DemoReport {
  /** Bumped when a field changes meaning. */
  reportVersion: 1;
  /** When the demo began (ISO 8601, UTC); also names the files `keylane demo` writes. */
  startedAt: string;
  seed: number;
  quick: boolean;
  config: DemoConfig;
  /** One plain run per strategy, same seeded workload. */
  strategies: ScenarioResult[];
  /** Split view and instance loss, for the serial strategies. */
  scenarios: ScenarioResult[];
  claims: DemoClaims;
  totalMs: number;
}

export interface DemoConfig {
  /** See `DemoOptions.deployment`. */
  deployment: Deployment;
  /** See `DemoOptions.entity`. */
  entity: DemoEntity;
  /** Fleet instances (routed) or processes embedding the engine (embedded). */
  instances: number;
  callers: number;
  keys: number;
  hotKeys: number;
  hotShare: number;
  readShare: number;
  chaos: { fillDelayMs: number; writeDelayMs: number };
  plainMs: number;
  splitViewMs: number;
  instanceLossMs: number;
  fault: { atMs: number; downMs: number };
  /** Split-view and plain runs keep going past their length (up to 3x) until this many operations. */
  minOperations: number;
}

/**
 * What the demo exists to show, as booleans (`null`: that run was not part of this demo).
 * `serialGuardedSafe` is the claim; the others show the checker can fail in the same harness.
 */
export interface DemoClaims {
  /** 0 violations, 0 diverged keys, 0 lost acked writes in every serial-guarded run. */
  serialGuardedSafe: boolean | null;
  /**
   * Each baseline strategy that showed at least one violation in its plain run; embedded,
   * `serial` too (lanes alone cannot serialize across processes).
   */
  baselinesViolate: Partial<Record<StrategyName, boolean>>;
  /** `serial` showed violations under split view. */
  serialViolatesUnderSplitView: boolean | null;
}

export function evaluateClaims(
  strategies: readonly ScenarioResult[],
  scenarios: readonly ScenarioResult[],
  deployment: Deployment = 'routed',
): DemoClaims {
  const unsafe: readonly StrategyName[] =
    deployment === 'embedded'
      ? ['cache-aside', 'invalidate-first', 'serial']
      : ['cache-aside', 'invalidate-first'];
  const guarded = [...strategies, ...scenarios].filter((r) => r.strategy === 'serial-guarded');
  const clean = (r: ScenarioResult): boolean =>
    r.violations === 0 && r.divergedKeys === 0 && r.ackedWritesLost === 0;
  const baselinesViolate: Partial<Record<StrategyName, boolean>> = {};
  for (const r of strategies) {
    if (unsafe.includes(r.strategy)) baselinesViolate[r.strategy] = r.violations > 0;
  }
  const serialSplit = scenarios.find((r) => r.strategy === 'serial' && r.scenario === 'split-view');
  return {
    serialGuardedSafe: guarded.length === 0 ? null : guarded.every(clean),
    baselinesViolate,
    serialViolatesUnderSplitView: serialSplit ? serialSplit.violations > 0 : null,
  };
}

const RESULT_COLUMNS = [
  'ops',
  'stale reads (violations)',
  'keys diverged at rest',
  'acked writes lost',
];

export function renderStrategyTable(results: readonly ScenarioResult[]): string {
  const headers = ['strategy', ...RESULT_COLUMNS, 'throughput', 'p50', 'p99'];
  const rows = results.map((r) => [
    r.strategy,
    ...resultCells(r),
    `${formatCount(r.throughputPerSec)}/s`,
    formatMs(r.p50Ms),
    formatMs(r.p99Ms),
  ]);
  return renderTable(headers, rows, new Set([1, 2, 3, 4, 5, 6, 7]));
}

export function renderScenarioTable(results: readonly ScenarioResult[]): string {
  const headers = [
    'scenario',
    'strategy',
    ...RESULT_COLUMNS,
    'failed requests',
    'reroute',
    'throughput',
    'p50',
    'p99',
  ];
  const rows = results.map((r) => [
    r.scenario,
    r.strategy,
    ...resultCells(r),
    formatCount(r.fault ? r.fault.failedRequests : r.failedOps + r.unknownOps),
    r.fault ? formatMs(r.fault.rerouteMs) : '-',
    `${formatCount(r.throughputPerSec)}/s`,
    formatMs(r.p50Ms),
    formatMs(r.p99Ms),
  ]);
  return renderTable(headers, rows, new Set([2, 3, 4, 5, 6, 7, 8, 9, 10]));
}

function resultCells(r: ScenarioResult): string[] {
  return [
    formatCount(r.ops),
    formatCount(r.violations),
    formatCount(r.divergedKeys),
    formatCount(r.ackedWritesLost),
  ];
}

/** The human-readable report: both tables, one example per finding, and the verdict. */
export function renderReport(report: DemoReport): string {
  const c = report.config;
  const out: string[] = [];
  out.push(
    `keylane demo: seed ${report.seed}${report.quick ? ' (quick)' : ''}, ${c.deployment === 'embedded' ? `${c.instances} processes each embedding the engine (no fleet)` : `${c.instances} instances`}, ${c.entity === 'carts' ? 'carts + cart_lines (a register per cart in its lines), ' : ''}${c.callers} callers, ` +
      `${c.keys} keys (${c.hotKeys} hot take ${Math.round(c.hotShare * 100)}%), ${Math.round(c.readShare * 100)}% reads, ` +
      `chaos fill ${c.chaos.fillDelayMs} ms / write ${c.chaos.writeDelayMs} ms`,
    '',
  );
  if (report.strategies.length > 0) {
    out.push(
      `Every strategy, same workload, ${formatMs(c.plainMs)} each:`,
      '',
      renderStrategyTable(report.strategies),
      '',
    );
  }
  if (report.scenarios.length > 0) {
    out.push(
      `Split view (half the callers see ${c.instances - 1} of ${c.instances} instances) and instance loss ` +
        `(SIGKILL at ${formatMs(c.fault.atMs)}, restart ${formatMs(c.fault.downMs)} later):`,
      '',
      renderScenarioTable(report.scenarios),
      '',
    );
  }
  const examples = [...report.strategies, ...report.scenarios].filter(
    (r) => r.violationExamples.length > 0 || r.divergedExamples.length > 0,
  );
  if (examples.length > 0) {
    out.push(
      'One example each (the checker names the operations involved; times are from the run start):',
    );
    for (const r of examples) {
      const example = r.violationExamples[0] ?? r.divergedExamples[0] ?? '';
      out.push(`  ${r.strategy}${r.scenario === 'plain' ? '' : ` / ${r.scenario}`}: ${example}`);
    }
    out.push('');
  }
  out.push(...renderVerdict(report.claims, report.scenarios));
  out.push(`Total ${formatMs(report.totalMs)}.`);
  return out.join('\n');
}

function renderVerdict(claims: DemoClaims, scenarios: readonly ScenarioResult[]): string[] {
  const lines: string[] = [];
  if (claims.serialGuardedSafe !== null) {
    lines.push(
      claims.serialGuardedSafe
        ? 'serial-guarded: no stale read, no diverged key, no lost acknowledged write in any run.'
        : 'serial-guarded: VIOLATED its guarantee in this run (see above). Please report it with the seed.',
    );
  }
  for (const [strategy, violated] of Object.entries(claims.baselinesViolate)) {
    lines.push(
      violated
        ? strategy === 'serial'
          ? 'serial: stale reads found, as expected: lanes serialize within one process, and every process here owns every key.'
          : `${strategy}: stale reads found, as expected (this is what the checker catches).`
        : `${strategy}: no violation caught in this run; it is unsafe, the races were just not hit (try a longer run).`,
    );
  }
  if (claims.serialViolatesUnderSplitView !== null) {
    lines.push(
      claims.serialViolatesUnderSplitView
        ? 'serial under split view: stale reads, as expected: lanes alone do not help when two instances own a key.'
        : 'serial under split view: no violation caught in this run (the races were not hit).',
    );
  }
  const serialLoss = scenarios.find(
    (r) => r.strategy === 'serial' && r.scenario === 'instance-loss',
  );
  if (serialLoss && serialLoss.violations > 0) {
    lines.push(
      'serial under instance loss: stale reads while keys moved between instances (the same two-owner race).',
    );
  }
  return lines;
}
