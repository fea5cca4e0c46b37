export {
  CONFIG_VARIABLES,
  CONFIG_VARIABLE_NAMES,
  ConfigError,
  LOG_LEVELS,
  defaultSetting,
  loadConfig,
  toEnvironment,
  unknownVariables,
  variableOf,
  type ConfigVariable,
  type Environment,
  type LogLevel,
  type ServiceConfig,
} from './config.js';
export { engineOptionsFrom } from './engine-options.js';
export { createLogger } from './logger.js';
export { createMetrics, type EngineStats, type MetricsOptions, type ServiceMetrics } from './metrics.js';
export {
  EXIT_BAD_CONFIG,
  EXIT_FORCED,
  EXIT_START_FAILED,
  EXIT_UNCLEAN,
  main,
  runService,
  type ServiceProgram,
} from './main.js';
export {
  createEntityService,
  createServer,
  startEngine,
  type CreateServerOptions,
  type EntityServiceSpec,
  type TablesConnection,
  type ItemService,
} from './server.js';
export { createServiceShell, type EngineService, type ServiceShellOptions } from './service-shell.js';
export type { ServiceState, ShutdownOutcome } from './lifecycle.js';
export { PUT_BODY_SCHEMA, ITEM_ROUTE } from './routes/items.js';
export type { HealthSnapshot, DependencyState } from './health-monitor.js';
// For other services built on the engine (cart-service): the same edge rules, one copy.
export { InvalidHeaderError, requestDeadline } from './deadline.js';
export { keyedRequestHooks, type CallerOf } from './routes/keyed-request.js';
export { reply as errorAnswer, type ErrorReply } from './error-reply.js';
export { sendError } from './send-error.js';
