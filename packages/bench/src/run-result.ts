import type { BentocacheSetup } from './bentocache-target.js';
import type { CeilingName } from './ceilings.js';
import type { CheckedRun } from './checked-run.js';
import type { StrategyRun } from './fleet-bench.js';
import type { LoadResult } from './load.js';
import type { WorkloadResults } from './phases.js';
import type { RoutingMeasurement } from './routing.js';
import type { InProcessName } from './system-names.js';

/** Everything one repetition of the bench measured (the raw numbers; summary.ts takes medians). */
export interface RunResult {
  run: number;
  ceilings: Partial<Record<CeilingName, LoadResult>>;
  strategies: StrategyRun[];
  direct: WorkloadResults | null;
  /** The engine embedded in this process (serial-guarded), same workloads. */
  embedded: WorkloadResults | null;
  /** bentocache in this process, per setup (a peer users would pick instead). */
  bentocache: Partial<Record<BentocacheSetup, WorkloadResults>>;
  /** Stale reads of each in-process system under the demo's injected delays (section `checked`). */
  checked: Partial<Record<InProcessName, CheckedRun>>;
  routing: RoutingMeasurement[];
  /** Sections of this run that produced no numbers, and why. */
  errors: string[];
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
