import { ConfigError, loadConfig, unknownVariables, type Environment, type ServiceConfig } from './config.js';
import { createLogger } from './logger.js';
import type { Logger } from 'pino';
import { createServer } from './server.js';
import type { EngineService } from './service-shell.js';

/** sysexits.h EX_CONFIG: the configuration is wrong, restarting will not help. */
export const EXIT_BAD_CONFIG = 78;
export const EXIT_START_FAILED = 1;
export const EXIT_UNCLEAN = 1;
/** A second SIGTERM/SIGINT during shutdown: leave now. */
export const EXIT_FORCED = 130;

/**
 * The whole process: validate the environment, start, and shut down on SIGTERM/SIGINT.
 * Exits on its own; resolves once listening.
 */
export function main(env: Environment = process.env): Promise<void> {
  return runService(env, { program: 'keylane-item-service', create: createServer });
}

/** What {@link runService} runs: the program's name (its config error line) and how to build it. */
export interface ServiceProgram {
  program: string;
  create: (config: ServiceConfig, options: { logger: Logger }) => Promise<EngineService>;
}

/** {@link main} for any service built on {@link createServiceShell}: same exit codes, same signals. */
export async function runService(env: Environment, { program, create }: ServiceProgram): Promise<void> {
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      // Exactly one line, plain text: it is what an operator sees in `docker logs`.
      process.stderr.write(`${program}: ${err.message}\n`);
      process.exit(EXIT_BAD_CONFIG);
    }
    throw err;
  }

  const logger = createLogger(config);
  for (const variable of unknownVariables(env)) {
    logger.warn({ variable }, 'unknown KEYLANE_ variable ignored (a typo?)');
  }
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(EXIT_START_FAILED);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    process.exit(EXIT_START_FAILED);
  });

  let service;
  try {
    service = await create(config, { logger });
  } catch (err) {
    logger.fatal({ err }, 'could not start: the engine did not come up');
    process.exit(EXIT_START_FAILED);
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now');
      process.exit(EXIT_FORCED);
    }
    service.shutdown(signal).then(
      ({ clean }) => process.exit(clean ? 0 : EXIT_UNCLEAN),
      (err: unknown) => {
        logger.fatal({ err }, 'shutdown failed');
        process.exit(EXIT_UNCLEAN);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await service.listen();
  } catch (err) {
    logger.fatal({ err, host: config.host, port: config.port }, 'could not listen');
    await service.close().catch(() => undefined);
    process.exit(EXIT_START_FAILED);
  }
}
