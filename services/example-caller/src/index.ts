export { runCaller, type CallerSummary } from './caller.js';
export {
  CALLER_VARIABLE_NAMES,
  CallerConfigError,
  DEFAULT_CALLER_CONFIG,
  loadCallerConfig,
  type CallerConfig,
  type CallerDiscovery,
  type CallerEnvironment,
} from './config.js';
export { jsonLineLog, type Log, type LogLevel } from './log.js';
export { clientOptionsFor, EXIT_BAD_CONFIG, main } from './main.js';
