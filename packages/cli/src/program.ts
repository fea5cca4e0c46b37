import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createBenchCommand } from './commands/bench.js';
import { ENGINE_OPTIONS, type IntegerOption } from '@keylane/engine';
import { STRATEGY_NAMES, type StrategyName } from '@keylane/engine/baselines';
import {
  DEFAULT_DATABASE_URL,
  DEFAULT_FLEET_OPTIONS,
  DEFAULT_REDIS_URL,
  FLEET_SERVICE_NAMES,
  redact,
  type FleetService,
} from './fleet/index.js';
import {
  defaultSetting,
  LOG_LEVELS,
  variableOf,
  type LogLevel,
  type ServiceConfig,
} from '@keylane/item-service/config';
import { KeylaneError } from '@keylane/protocol';
import { DEFAULT_DEMO_SEED, EMBEDDED_PROCESSES, runDemo } from './demo.js';
import { DEMO_ENTITIES, type DemoEntity } from './entities.js';
import { DEFAULT_DEMO_OUT_DIR, writeDemoOutputs } from './demo-output.js';
import { createProgressSink, SILENT_PROGRESS } from './progress.js';
import { DEPLOYMENTS, renderReport, type DemoReport, type Deployment } from './report.js';
import { runUp } from './up.js';
import { VERSION } from './version.js';

/** The line after a usage error: where the full usage is, instead of printing all of it. */
export const usageHint = (command: string): string => `run \`${command} --help\` for the usage`;

/** What the caller's environment sets for an instance's setting (its KEYLANE_* variable). */
const env = (key: keyof ServiceConfig): string | undefined => {
  const value = process.env[variableOf(key)];
  return value === undefined || value === '' ? undefined : value;
};

function integerIn(min: number, max: number) {
  return (raw: string): number => {
    const value = /^-?[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return value;
  };
}

/** A flag for one of the engine's options: the engine's range. */
const engineRange = (option: IntegerOption) => integerIn(option.min, option.max);

function strategyList(raw: string): StrategyName[] {
  return raw.split(',').map((name) => {
    const found = STRATEGY_NAMES.find((s) => s === name.trim());
    if (!found)
      throw new InvalidArgumentError(
        `unknown strategy "${name}"; expected ${STRATEGY_NAMES.join(', ')}`,
      );
    return found;
  });
}

// Help shows the default with any password masked (it may come from the environment).
const urlOption = (flags: string, description: string, value: string): Option =>
  new Option(flags, description).default(value, redact(value));
const databaseUrlOption = (): Option =>
  urlOption(
    '--database-url <url>',
    `PostgreSQL connection string ($${variableOf('databaseUrl')})`,
    env('databaseUrl') ?? DEFAULT_DATABASE_URL,
  );
const redisUrlOption = (): Option =>
  urlOption(
    '--redis-url <url>',
    `Redis URL ($${variableOf('redisUrl')})`,
    env('redisUrl') ?? DEFAULT_REDIS_URL,
  );

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

interface DemoFlags {
  quick: boolean;
  json: boolean;
  out: string | false;
  seed: number;
  databaseUrl: string;
  redisUrl: string;
  strategies?: StrategyName[];
  callers: number;
  historyDir?: string;
  deployment: Deployment;
  entity: DemoEntity;
  progress: boolean;
}

/** The `keylane` command line. `exitCode` receives what the process should exit with. */
export function createProgram(
  setExitCode: (code: number) => void = (code) => (process.exitCode = code),
): Command {
  const program = new Command('keylane')
    .description(
      'Start a local Keylane item-service fleet, run the consistency demo, or measure what consistency costs',
    )
    .version(VERSION, '-V, --version', 'print the version')
    .configureHelp({ sortOptions: false })
    // A usage error is one line, `keylane: <what>`, then the hint each command sets below.
    .configureOutput({
      outputError: (message, write) => write(message.replace(/^error: /, 'keylane: ')),
    })
    .showHelpAfterError(usageHint('keylane'))
    // A usage error throws (main exits 2) instead of exiting 1, which `demo` keeps for a failed claim.
    .exitOverride();

  program
    .command('up')
    .description(
      'start N instances of the item service (or the cart service) on 127.0.0.1 and keep them running until Ctrl-C',
    )
    .showHelpAfterError(usageHint('keylane up'))
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

  program
    .command('demo')
    .description(
      'run every strategy on a fresh 3-instance fleet under one seeded workload, check it, print the table',
    )
    .showHelpAfterError(usageHint('keylane demo'))
    .option('--quick', 'about 30 s instead of about 2 minutes (shorter runs, same claims)', false)
    .option('--json', 'print the report as JSON on stdout (progress still goes to stderr)', false)
    .option(
      '--out <dir>',
      'write the JSON report and a chart of the stale reads (SVG) there, named by start time',
      DEFAULT_DEMO_OUT_DIR,
    )
    .option('--no-out', 'write no files')
    .addOption(
      new Option(
        '--deployment <kind>',
        `routed: a fleet behind the SDK; embedded: ${EMBEDDED_PROCESSES} processes each embedding the engine, no fleet`,
      )
        .choices(DEPLOYMENTS)
        .default('routed'),
    )
    .addOption(
      new Option(
        '--entity <name>',
        "items: the item service's table; carts: the cart service's carts + cart_lines (the relational example)",
      )
        .choices(DEMO_ENTITIES)
        .default('items'),
    )
    .option(
      '--history-dir <dir>',
      "write each run's recorded history there (checker JSONL, one file per run) to check it again elsewhere",
    )
    .addOption(
      new Option('--seed <n>', 'workload seed, for reproducible runs')
        .argParser(integerIn(0, 0xffff_ffff))
        .default(DEFAULT_DEMO_SEED),
    )
    .addOption(databaseUrlOption())
    .addOption(redisUrlOption())
    .addOption(
      new Option(
        '--strategies <list>',
        'comma-separated strategies for the main table (default: all)',
      ).argParser(strategyList),
    )
    .addOption(
      new Option('--callers <n>', 'concurrent callers').argParser(integerIn(2, 1024)).default(16),
    )
    .option('--no-progress', 'no progress output on stderr')
    .action(async (flags: DemoFlags) => {
      const controller = new AbortController();
      const onSignal = (): void => controller.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let report: DemoReport;
      try {
        report = await runDemo({
          databaseUrl: flags.databaseUrl,
          redisUrl: flags.redisUrl,
          seed: flags.seed,
          quick: flags.quick,
          callers: flags.callers,
          progress: flags.progress ? createProgressSink() : SILENT_PROGRESS,
          signal: controller.signal,
          ...(flags.strategies ? { strategies: flags.strategies } : {}),
          ...(flags.historyDir !== undefined ? { historyDir: flags.historyDir } : {}),
          deployment: flags.deployment,
          entity: flags.entity,
        });
      } catch (err) {
        if (!controller.signal.aborted) throw err;
        process.stderr.write(
          'keylane demo: interrupted; fleets stopped and scratch data removed.\n',
        );
        setExitCode(130);
        return;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      process.stdout.write(
        flags.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${renderReport(report)}\n`,
      );
      if (flags.out !== false) {
        const files = await writeDemoOutputs(report, flags.out);
        // With --json, stdout is the report alone.
        (flags.json ? process.stderr : process.stdout).write(
          `report: ${files.json}\nchart:  ${files.chart}\n`,
        );
      }
      // The demo's own claim failing is an error; a baseline missing its races is not.
      setExitCode(report.claims.serialGuardedSafe === false ? 1 : 0);
    });

  // Mounted with the settings above (help after an error,
  // usage errors thrown): addCommand, unlike command(), does not pass them on by itself.
  program.addCommand(
    createBenchCommand()
      .copyInheritedSettings(program)
      .showHelpAfterError(usageHint('keylane bench')),
  );

  return program;
}

/**
 * Runs the CLI. A usage error (commander has printed it, and the hint) exits 2, and so does a
 * KeylaneError (unreachable Redis, a bad option value), as one line on stderr, followed by
 * the hint when it is about an option; anything else is a crash, with its stack.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const program = createProgram();
  // The command whose action runs, for the hint after an option value its action refused.
  let running = 'keylane';
  program.hook('preAction', (_program, action) => {
    running = commandPath(action);
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are ones too, with exit code 0.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof KeylaneError) {
      const hint = err.code === 'invalid_options' ? `${usageHint(running)}\n` : '';
      process.stderr.write(`keylane: ${err.message}\n${hint}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}
