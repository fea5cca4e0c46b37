export {
  CONFIG_VARIABLES,
  CONFIG_VARIABLE_NAMES,
  ConfigError,
  LOG_LEVELS,
  loadConfig,
  unknownVariables,
  type ConfigVariable,
  type Environment,
  type LogLevel,
  type ServiceConfig,
} from './config.js';
export { engineOptionsFrom } from './engine-options.js';
export { createLogger } from './logger.js';
export { createMetrics, type MetricsOptions, type ServiceMetrics } from './metrics.js';
export { EXIT_BAD_CONFIG, EXIT_FORCED, EXIT_START_FAILED, EXIT_UNCLEAN, main } from './main.js';
export {
  createServer,
  type CreateServerOptions,
  type ItemService,
  type ServiceState,
  type ShutdownOutcome,
} from './server.js';
export { PUT_BODY_SCHEMA, ITEM_ROUTE } from './routes/items.js';
export type { HealthSnapshot, DependencyState } from './health-monitor.js';
