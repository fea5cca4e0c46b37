export {
  startFleet,
  DEFAULT_CHAOS,
  DEFAULT_FLEET_OPTIONS,
  type Fleet,
  type FleetChaos,
  type FleetInstance,
  type FleetOptions,
} from './fleet.js';
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
export {
  FleetUnhealthyError,
  DependencyUnreachableError,
  InstanceStartError,
  ServiceBinMissingError,
} from './errors.js';
