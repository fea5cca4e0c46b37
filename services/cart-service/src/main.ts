import { runService, type Environment } from '@keylane/item-service';
import { createCartServer } from './server.js';

/** The whole process, with the item service's exit codes and signal handling. */
export function main(env: Environment = process.env): Promise<void> {
  return runService(env, { program: 'keylane-cart-service', create: (config, options) => createCartServer(config, options) });
}
