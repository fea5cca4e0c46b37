import type { ResolvedBenchOptions } from './options.js';
import type { MachineInfo, RunResult } from './run-result.js';
import type { BenchSummary } from './summary.js';

/** What `keylane bench` writes as its results JSON. */
export interface BenchResult {
  schemaVersion: 1;
  /** The command line that produced it, when run from the bin. */
  command?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  machine: MachineInfo;
  /** The schema and Redis prefix it created (and dropped before returning). */
  scratch: { schema: string; prefix: string };
  config: Omit<ResolvedBenchOptions, 'databaseUrl' | 'redisUrl'> & {
    fleetSize: number;
    lanesPerInstance: number;
    /** Share of traffic the hottest 1% of keys get under the Zipf law used. */
    top1PercentShare: number;
  };
  runs: RunResult[];
  summary: BenchSummary;
}
