import type { BentocacheSetup } from './bentocache-target.js';
import type { CeilingName, CeilingResult } from './ceilings.js';
import type { CheckedRun } from './checked-run.js';
import type { DeploymentsMeasurement } from './deployments.js';
import type { StrategyRun } from './fleet-bench.js';
import type { OverloadMeasurement } from './overload.js';
import type { PeerMeasurement, PeerSystem } from './peers.js';
import type { WorkloadResults } from './phases.js';
import type { RoutingMeasurement } from './routing.js';
import type { InProcessName } from './system-names.js';

/** Everything one repetition of the bench measured (the raw numbers; summary.ts takes medians). */
export interface RunResult {
  run: number;
  ceilings: Partial<Record<CeilingName, CeilingResult>>;
  strategies: StrategyRun[];
  direct: WorkloadResults | null;
  /** The engine embedded in this process (serial-guarded), same workloads. */
  embedded: WorkloadResults | null;
  /** bentocache in this process, per setup (a peer users would pick instead). */
  bentocache: Partial<Record<BentocacheSetup, WorkloadResults>>;
  /** Stale reads of each in-process system under the demo's injected delays (section `checked`). */
  checked: Partial<Record<InProcessName, CheckedRun>>;
  routing: RoutingMeasurement[];
  /** Routed vs embedded on one hot key: DB reads per expiry, Postgres connections (section `deployments`). */
  deployments: DeploymentsMeasurement | null;
  /**
   * serial-guarded on one hot key: its closed-loop capacity, then twice that offered open-loop
   * with deadlines (section `overload`). Absent in results written before the section existed.
   */
  overload?: OverloadMeasurement | null;
  /**
   * The engine embedded, and bentocache with Redis only, each in several caller processes at
   * once on the 90/10 Zipfian workload (section `peers`). Absent in older results.
   */
  peers?: Partial<Record<PeerSystem, PeerMeasurement>> | null;
  /** Sections of this run that produced no numbers, and why. */
  errors: string[];
}

/** A run before any section has measured anything. */
export function emptyRunResult(run: number): RunResult {
  return {
    run,
    ceilings: {},
    strategies: [],
    direct: null,
    embedded: null,
    bentocache: {},
    checked: {},
    routing: [],
    deployments: null,
    overload: null,
    peers: null,
    errors: [],
  };
}

export interface MachineInfo {
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  totalMemoryMb: number;
  /** os.loadavg() (1, 5, 15 minutes) when the bench started and when it finished. */
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
}
