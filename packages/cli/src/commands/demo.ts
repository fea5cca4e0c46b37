import { Command, Option } from 'commander';
import type { StrategyName } from '@keylane/engine/baselines';
import { DEFAULT_DEMO_SEED, EMBEDDED_PROCESSES, runDemo } from '../demo/demo.js';
import { DEMO_ENTITIES, type DemoEntity } from '../demo/entities.js';
import { DEFAULT_DEMO_OUT_DIR, writeDemoOutputs } from '../demo/output.js';
import { createProgressSink, SILENT_PROGRESS } from '../demo/progress.js';
import { DEPLOYMENTS, renderReport, type DemoReport, type Deployment } from '../demo/report.js';
import { databaseUrlOption, integerIn, redisUrlOption, strategyList } from './flags.js';

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

/** `keylane demo`; `setExitCode` receives what the process should exit with (1: a failed claim). */
export function createDemoCommand(setExitCode: (code: number) => void): Command {
  return new Command('demo')
    .description(
      'run every strategy on a fresh 3-instance fleet under one seeded workload, check it, print the table',
    )
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
}
