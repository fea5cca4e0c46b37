import { Command, Option } from 'commander';
import { ENGINE_OPTIONS } from '@keylane/engine';
import { STRATEGY_NAMES, type StrategyName } from '@keylane/engine/baselines';
import {
  defaultSetting,
  LOG_LEVELS,
  variableOf,
  type LogLevel,
} from '@keylane/item-service/config';
import { DEFAULT_FLEET_OPTIONS, FLEET_SERVICE_NAMES, type FleetService } from '../fleet/index.js';
import { runUp } from '../fleet/up.js';
import { databaseUrlOption, engineRange, env, integerIn, redisUrlOption } from './flags.js';

// Variables `keylane up` sets from its flags (or per instance); any other KEYLANE_* in the
// caller's environment (KEYLANE_CACHE_TTL_MS, KEYLANE_DRAIN_MS, ...) goes to every instance.
const FLAG_BACKED = new Set(
  (
    [
      'port',
      'host',
      'instanceId',
      'databaseUrl',
      'redisUrl',
      'dbSchema',
      'cachePrefix',
      'strategy',
      'allowBaselines',
      'lanes',
      'logLevel',
      'allowChaos',
      'chaosFillDelayMs',
      'chaosWriteDelayMs',
    ] as const
  ).map(variableOf),
);

function passThroughEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (
      name.startsWith('KEYLANE_') &&
      !name.startsWith('KEYLANE_TEST_') &&
      !FLAG_BACKED.has(name) &&
      value !== undefined
    ) {
      out[name] = value;
    }
  }
  return out;
}

interface UpFlags {
  instances: number;
  service: FleetService;
  strategy: StrategyName;
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  prefix: string;
  basePort?: number;
  lanes?: number;
  logLevel: LogLevel;
  chaosFillDelayMs?: number;
  chaosWriteDelayMs?: number;
}

/** `keylane up`; `setExitCode` receives what the process should exit with. */
export function createUpCommand(setExitCode: (code: number) => void): Command {
  return new Command('up')
    .description(
      'start N instances of the item service (or the cart service) on 127.0.0.1 and keep them running until Ctrl-C',
    )
    .addOption(
      new Option('-n, --instances <n>', 'how many instances')
        .argParser(integerIn(1, 64))
        .default(3),
    )
    .addOption(
      new Option(
        '--service <name>',
        'items: the item service (one items table); carts: the relational example (carts + cart_lines)',
      )
        .choices(FLEET_SERVICE_NAMES)
        .default('items'),
    )
    .addOption(
      new Option('--strategy <name>', 'cache strategy of every instance')
        .choices(STRATEGY_NAMES)
        .default(env('strategy') ?? defaultSetting('strategy')),
    )
    .addOption(databaseUrlOption())
    .addOption(redisUrlOption())
    .addOption(
      new Option('--schema <name>', "Postgres schema of the service's tables").default(
        env('dbSchema') ?? defaultSetting('dbSchema'),
      ),
    )
    .addOption(
      new Option('--prefix <prefix>', 'Redis key prefix').default(
        env('cachePrefix') ?? defaultSetting('cachePrefix'),
      ),
    )
    .addOption(
      new Option(
        '--base-port <port>',
        'instance i listens on base-port + i (default: free ports)',
      ).argParser(integerIn(1, 65_535)),
    )
    .addOption(
      new Option(
        '--lanes <n>',
        `lanes (keyed DB connections) per instance (default: ${DEFAULT_FLEET_OPTIONS.lanes}, to spare Postgres connections)`,
      ).argParser(engineRange(ENGINE_OPTIONS.lanes)),
    )
    .addOption(
      new Option(
        '--log-level <level>',
        "instances' log level (their output goes to stderr, prefixed)",
      )
        .choices(LOG_LEVELS)
        .default(env('logLevel') ?? DEFAULT_FLEET_OPTIONS.logLevel),
    )
    .addOption(
      new Option(
        '--chaos-fill-delay-ms <ms>',
        "test only: pause between a miss's DB read and its fill",
      ).argParser(engineRange(ENGINE_OPTIONS.chaosFillDelayMs)),
    )
    .addOption(
      new Option(
        '--chaos-write-delay-ms <ms>',
        "test only: pause between a write's invalidation and its DB write",
      ).argParser(engineRange(ENGINE_OPTIONS.chaosWriteDelayMs)),
    )
    .action(async (flags: UpFlags) => {
      const chaos = {
        ...(flags.chaosFillDelayMs !== undefined ? { fillDelayMs: flags.chaosFillDelayMs } : {}),
        ...(flags.chaosWriteDelayMs !== undefined ? { writeDelayMs: flags.chaosWriteDelayMs } : {}),
      };
      setExitCode(
        await runUp({
          env: passThroughEnv(),
          count: flags.instances,
          service: flags.service,
          strategy: flags.strategy,
          databaseUrl: flags.databaseUrl,
          redisUrl: flags.redisUrl,
          schema: flags.schema,
          prefix: flags.prefix,
          logLevel: flags.logLevel,
          chaos,
          ...(flags.basePort !== undefined ? { basePort: flags.basePort } : {}),
          ...(flags.lanes !== undefined ? { lanes: flags.lanes } : {}),
        }),
      );
    });
}
