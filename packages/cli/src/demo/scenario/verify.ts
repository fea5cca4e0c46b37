import {
  checkConvergence,
  checkHistory,
  countKindsFound,
  formatViolation,
  type ConvergenceEntry,
  type Operation,
  type ViolationKind,
} from '@keylane/checker';
import type { ReplicaReadStats } from '@keylane/engine';
import type { StrategyName } from '@keylane/engine/baselines';
import type { RunWorkloadResult } from '../../workload/index.js';
import { parseLongId } from '@keylane/protocol';
import { findLostAckedWrites, summarizeLatency } from '../analysis.js';
import type { RegisterAtRest } from '../entities.js';
import type { ScenarioName } from './table.js';

/**
 * What the checker and the data at rest say about a recorded run: the verdict every harness
 * that records a history reports (the demo's runs here, the container fault suite too).
 */
export interface RunVerdict {
  /** Checker violations (stale reads and their kin). */
  violations: number;
  violationsByKind: Partial<Record<ViolationKind, number>>;
  /** Up to three violations, formatted for people. */
  violationExamples: string[];
  keysChecked: number;
  /** Keys whose cached entry differs from the DB row at rest. */
  divergedKeys: number;
  divergedExamples: string[];
  /** See `findLostAckedWrites` for the rule. */
  ackedWritesLost: number;
  lostExamples: string[];
}

export interface ScenarioResult extends RunVerdict {
  strategy: StrategyName;
  scenario: ScenarioName;
  seed: number;
  durationMs: number;
  ops: number;
  okOps: number;
  failedOps: number;
  unknownOps: number;
  throughputPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** With a replica (`runEmbedded`'s `replica`): where the misses that could use it were read. */
  replicaReads?: ReplicaReadStats;
  /** Scenarios with a fault (`instance-loss`) only. */
  fault?: {
    victim: string;
    killedAtMs: number;
    restartedAtMs: number | null;
    rerouteMs: number | null;
    failedRequests: number;
  };
  /** The full history, when asked for. */
  history?: readonly Operation[];
  /** Where the demo wrote this run's history (checker JSONL), with `--history-dir`. */
  historyFile?: string;
}

/** Reads a key's register as cached and as stored, directly (no lane, no guard). */
export type Inspect = (key: bigint) => Promise<RegisterAtRest>;

/** What a finished run shows: the history checked, the data at rest compared, the latencies. */
export async function analyzeRun(input: {
  strategy: StrategyName;
  scenario: ScenarioName;
  seed: number;
  ops: readonly Operation[];
  run: Pick<RunWorkloadResult, 'startedNs' | 'endedNs'>;
  /** Reads the cache and the rows directly, for the at-rest comparison. */
  inspect: Inspect;
  keepHistory: boolean;
}): Promise<ScenarioResult> {
  const { strategy, scenario, seed, ops, run, inspect, keepHistory } = input;
  const verdict = await verifyRun(ops, inspect);
  const latency = summarizeLatency(ops, run.endedNs - run.startedNs);
  return {
    strategy,
    scenario,
    seed,
    durationMs: Number(run.endedNs - run.startedNs) / 1e6,
    ops: ops.length,
    okOps: latency.okOps,
    failedOps: ops.filter((op) => op.outcome === 'fail').length,
    unknownOps: ops.filter((op) => op.outcome === 'unknown').length,
    ...verdict,
    throughputPerSec: latency.throughputPerSec,
    p50Ms: latency.p50Ms,
    p99Ms: latency.p99Ms,
    ...(keepHistory ? { history: ops } : {}),
  };
}

/**
 * Checks a finished run: the history for per-key linearizability, then every key it touched
 * at rest (cache against row), and the acknowledged writes against the final rows.
 */
export async function verifyRun(ops: readonly Operation[], inspect: Inspect): Promise<RunVerdict> {
  const check = checkHistory(ops);
  const touched = [...new Set(ops.map((op) => op.key))];
  const { entries, finalValues } = await inspectKeys(inspect, touched);
  const convergence = checkConvergence(entries);
  const lost = findLostAckedWrites(ops, finalValues);
  return {
    violations: check.violations.length,
    violationsByKind: countKindsFound(check.violations),
    violationExamples: check.violations.slice(0, 3).map(formatViolation),
    keysChecked: check.keysChecked,
    divergedKeys: convergence.diverged.length,
    divergedExamples: convergence.diverged.slice(0, 3).map((d) => d.message),
    ackedWritesLost: lost.length,
    lostExamples: lost
      .slice(0, 3)
      .map(
        (l) =>
          `key ${l.key}: acknowledged write ${JSON.stringify(l.value)} lost, DB holds ${JSON.stringify(l.finalValue)}`,
      ),
  };
}

/** Every key's cached entry and DB row, for the convergence check and the lost-write count. */
async function inspectKeys(
  inspect: Inspect,
  keys: readonly string[],
): Promise<{ entries: ConvergenceEntry[]; finalValues: Map<string, string | null> }> {
  const entries: ConvergenceEntry[] = [];
  const finalValues = new Map<string, string | null>();
  for (const key of keys) {
    const { cached, stored } = await inspect(parseLongId(key));
    entries.push({ key, cached, stored });
    finalValues.set(key, stored);
  }
  return { entries, finalValues };
}
