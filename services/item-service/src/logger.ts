import { pino, type Logger } from 'pino';
import type { ServiceConfig } from './config.js';

/**
 * JSON lines on stdout. Synchronous writes: the process exits right after shutdown and
 * the last lines (how it ended) must not be lost in a buffer. Requests are not logged one
 * by one at info (metrics count them), so the cost stays off the hot path.
 */
export function createLogger(config: Pick<ServiceConfig, 'logLevel' | 'instanceId'>): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { instanceId: config.instanceId, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
