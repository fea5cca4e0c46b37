import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Cluster } from './lib/cluster.js';
import { FAULTS } from './lib/faults.js';
import { runFault, type FaultResult } from './lib/run-fault.js';
import { saveResults } from './lib/report.js';

// Seeds fixed per fault: the same keys and operation streams every run; only timing varies.
const SEED = 20_261_201;
const ONLY = process.env.KEYLANE_CLUSTER_FAULTS?.split(',').filter(Boolean);
const faults = ONLY ? FAULTS.filter((f) => ONLY.includes(f.id)) : FAULTS;
const FAULT_TIMEOUT_MS = 120_000;

function describeFailure(r: FaultResult): string {
  return JSON.stringify(
    { violations: r.violationExamples, diverged: r.divergedExamples, lost: r.lostExamples, witness: r.witness },
    null,
    2,
  );
}

describe('the compose cluster (serial-guarded) under faults', () => {
  let cluster: Cluster;
  const results: FaultResult[] = [];

  beforeAll(async () => {
    cluster = await Cluster.up();
  }, 15 * 60_000);

  afterAll(async () => {
    if (results.length > 0) process.stdout.write(`\n${await saveResults('serial-guarded', results)}\n`);
  });

  it.each(faults.map((f, i) => [f.id, f, i] as const))(
    '%s: no stale read, no divergence at rest, no acknowledged write lost',
    async (_id, fault, i) => {
      const r = await runFault(cluster, fault, SEED + i);
      results.push(r);
      expect(r.strategy).toBe('serial-guarded');
      expect(r.okOps).toBeGreaterThan(100);
      const safety = { violations: r.violations, diverged: r.divergedKeys, lost: r.ackedWritesLost, witnessStale: r.witness.staleReads, witnessLost: r.witness.versionRegressions };
      expect({ safety, detail: safety.violations + safety.diverged + safety.lost + safety.witnessStale + safety.witnessLost > 0 ? describeFailure(r) : '' }).toEqual({
        safety: { violations: 0, diverged: 0, lost: 0, witnessStale: 0, witnessLost: 0 },
        detail: '',
      });
      expect(r.witness.served).toBeGreaterThan(0);
      if (fault.victim) expect(r.routeAwayP50Ms).not.toBeNull();
      if (fault.id === 'pause') expect(r.writesInFlightAtFault).toBeGreaterThan(0);
      if (fault.expectNoFailedRequests) {
        expect(r.failedRequests).toBe(0);
        expect(r.witness.failures).toBe(0);
      }
    },
    FAULT_TIMEOUT_MS,
  );
});

// The same harness against a fleet that is known to be unsafe (compose.unsafe.yaml: plain
// cache-aside with the demo's chaos delays). If it saw nothing here, its zeros above would
// prove nothing. Its stale reads come from the delays whatever the fault (every row of the
// full table shows hundreds), so by default it runs three faults of different kinds (an
// instance lost, an instance frozen with writes inside, the cache emptied), which keeps CI
// inside its budget; KEYLANE_CLUSTER_CONTRAST=all runs every one.
const CONTRAST_FAULTS = ['kill', 'pause', 'redis-restart'];
const contrastFaults =
  ONLY || process.env.KEYLANE_CLUSTER_CONTRAST === 'all'
    ? faults
    : faults.filter((f) => CONTRAST_FAULTS.includes(f.id));

describe('the same suite against an unsafe fleet (cache-aside, chaos delays) finds failures', () => {
  let cluster: Cluster;
  const results: FaultResult[] = [];

  beforeAll(async () => {
    cluster = await Cluster.up({ unsafe: true });
  }, 15 * 60_000);

  afterAll(async () => {
    if (results.length > 0) process.stdout.write(`\n${await saveResults('cache-aside', results)}\n`);
  });

  it.each(contrastFaults.map((f) => [f.id, f, faults.indexOf(f)] as const))(
    '%s: stale reads or keys diverged at rest',
    async (_id, fault, i) => {
      const r = await runFault(cluster, fault, SEED + i);
      results.push(r);
      expect(r.strategy).toBe('cache-aside');
      expect(r.okOps).toBeGreaterThan(100);
      expect(r.violations + r.divergedKeys).toBeGreaterThan(0);
    },
    FAULT_TIMEOUT_MS,
  );
});
