export { createRng, deriveSeed, type Rng } from './prng.js';
export {
  createWorkload,
  DEFAULT_WORKLOAD_OPTIONS,
  EDGE_KEYS,
  type CallerStream,
  type Workload,
  type WorkloadOp,
  type WorkloadOptions,
} from './workload.js';
export {
  runWorkload,
  type ItemClient,
  type RunWorkloadOptions,
  type RunWorkloadResult,
  type WorkloadCaller,
} from './run-workload.js';
export { outcomeOfError } from './outcome.js';
