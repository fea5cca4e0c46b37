export {
  startFleet,
  DEFAULT_CHAOS,
  DEFAULT_FLEET_OPTIONS,
  type Fleet,
  type FleetChaos,
  type FleetInstance,
  type FleetOptions,
} from './fleet.js';
export { errorText, getFreePort } from '@keylane/test-kit';
export {
  FLEET_SERVICE_NAMES,
  FLEET_SERVICES,
  resolveServiceBin,
  SERVICE_BUNDLE,
  type FleetService,
} from './service-bin.js';
export {
  checkDependencies,
  checkPostgres,
  checkRedis,
  redact,
  DEFAULT_DATABASE_URL,
  DEFAULT_REDIS_URL,
} from './reachability.js';
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
  createScratchNames,
  dropScratch,
  resetScratch,
  deleteScratchKeys,
  type ScratchSpace,
} from './scratch.js';
export {
  FleetUnhealthyError,
  DependencyUnreachableError,
  InstanceStartError,
  ServiceBinMissingError,
} from './errors.js';
export {
  runWorkload,
  type ItemClient,
  type RunWorkloadOptions,
  type RunWorkloadResult,
  type WorkloadCaller,
} from './run-workload.js';
export { outcomeOfError } from './outcome.js';
