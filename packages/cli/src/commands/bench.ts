import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { InvalidOptionsError } from '@keylane/protocol';
import { STRATEGY_NAMES, type StrategyName } from '@keylane/engine/baselines';
import {
  SECTION_NAMES,
  type BenchOptions,
  type SectionName,
} from '../bench/options.js';
import { createProgress } from '../bench/progress.js';
import { renderTerminal } from '../bench/report.js';
import type { BenchResult } from '../bench/bench-result.js';
import { runBench } from '../bench/run-bench.js';
import { DEFAULT_OUTPUT_PATHS, writeOutputs } from '../bench/write-output.js';
import { commandPath, databaseUrlOption, digits, listOf, redisUrlOption } from './flags.js';

interface BenchFlags {
  quick: boolean;
  seed?: number;
  runs?: number;
  concurrency?: number;
  duration?: number;
  warmup?: number;
  rate?: number;
  keys?: number;
  lanes?: number;
  only?: SectionName[];
  strategies?: StrategyName[];
  out: string;
  report: string | false;
  notes?: string;
  fromResults?: string;
  cpuProfDir?: string;
  groupCommit: boolean;
  databaseUrl: string;
  redisUrl: string;
}

/** The `keylane bench` command, which program.ts mounts under `keylane`. */
export function createBenchCommand(): Command {
  return new Command('bench')
    .description(
      "What consistency costs: every strategy against cache-aside, the direct design and the machine's ceilings",
    )
    .option('--quick', 'a short smoke run (1 run, short windows; under 2 minutes)', false)
    .option('--seed <n>', 'seed of keys and operation streams', digits('--seed'))
    .option(
      '--runs <n>',
      'repetitions; figures are medians over them (default 3, quick 1)',
      digits('--runs'),
    )
    .option(
      '--concurrency <n>',
      'callers per closed loop (default 32, quick 16)',
      digits('--concurrency'),
    )
    .option(
      '--duration <ms>',
      'measured window per phase in ms (default 3000, quick 600)',
      digits('--duration'),
    )
    .option(
      '--warmup <ms>',
      'unmeasured load before each workload in ms (default 1000, quick 150)',
      digits('--warmup'),
    )
    .option(
      '--rate <ops>',
      'open-loop offered rate, ops/s (default 1000, quick 500)',
      digits('--rate'),
    )
    .option(
      '--lanes <n>',
      'KEYLANE_LANES of every instance, the pg pool size of the direct cache-aside and the lanes of the embedded engine (default 10)',
      digits('--lanes'),
    )
    .option(
      '--keys <n>',
      'distinct keys of the Zipfian workloads (default 10000, quick 1000)',
      digits('--keys'),
    )
    .addOption(
      new Option('--only <sections>', `comma-separated: ${SECTION_NAMES.join(',')}`).argParser(
        listOf('--only', SECTION_NAMES),
      ),
    )
    .addOption(
      new Option('--strategies <names>', `comma-separated: ${STRATEGY_NAMES.join(',')}`).argParser(
        listOf('--strategies', STRATEGY_NAMES),
      ),
    )
    .option(
      '--out <dir>',
      'directory of the results JSON (relative to the current folder)',
      DEFAULT_OUTPUT_PATHS.resultsDir,
    )
    .option(
      '--report <file>',
      'the Markdown report (charts go to charts/ beside it)',
      DEFAULT_OUTPUT_PATHS.reportPath,
    )
    .option('--no-report', 'write only the results JSON')
    .option('--notes <file>', "Markdown to include as the report's analysis of missed targets")
    .option(
      '--from-results <file>',
      'run nothing: write the report of an earlier results JSON (e.g. after editing --notes)',
    )
    .option(
      '--cpu-prof-dir <dir>',
      'write a CPU profile of every service instance there (node --cpu-prof)',
    )
    .option(
      '--no-group-commit',
      "one transaction per write: no group commit of a hot key's queued writes (in the instances and the embedded engine)",
    )
    // Like every command's, but the bench refuses any host other than 127.0.0.1 (it floods it).
    .addOption(databaseUrlOption())
    .addOption(redisUrlOption())
    .action(async (flags: BenchFlags, command: Command) => {
      const options: BenchOptions = {
        quick: flags.quick,
        databaseUrl: flags.databaseUrl,
        redisUrl: flags.redisUrl,
        ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
        ...(flags.runs !== undefined ? { runs: flags.runs } : {}),
        ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
        ...(flags.duration !== undefined ? { durationMs: flags.duration } : {}),
        ...(flags.warmup !== undefined ? { warmupMs: flags.warmup } : {}),
        ...(flags.rate !== undefined ? { ratePerSec: flags.rate } : {}),
        ...(flags.keys !== undefined ? { keys: flags.keys } : {}),
        ...(flags.lanes !== undefined ? { lanes: flags.lanes } : {}),
        ...(flags.only ? { only: flags.only } : {}),
        ...(flags.strategies ? { strategies: flags.strategies } : {}),
        ...(flags.cpuProfDir ? { cpuProfDir: resolve(flags.cpuProfDir) } : {}),
        groupCommit: flags.groupCommit,
      };
      const result = flags.fromResults
        ? await readResults(resolve(flags.fromResults))
        : await runInterruptibly(options, commandPath(command));
      if (result === null) return;
      result.command ??= commandLine(command);
      const written = await writeOutputs(result, {
        resultsDir: flags.fromResults ? dirname(resolve(flags.fromResults)) : resolve(flags.out),
        reportPath: flags.report === false ? null : resolve(flags.report),
        notesPath: flags.notes ? resolve(flags.notes) : null,
        command: result.command,
      });
      process.stdout.write(renderTerminal(result));
      process.stdout.write(`\nresults: ${written.results}\n`);
      if (written.report)
        process.stdout.write(`report:  ${written.report} (${written.charts.length} charts)\n`);
    });
}

/**
 * runBench with Ctrl-C (or SIGTERM) stopping it cleanly: the current phase ends, fleets stop,
 * scratch data is dropped, and the process exits 130. A second Ctrl-C kills it at once.
 * Returns null when interrupted.
 */
async function runInterruptibly(options: BenchOptions, name: string): Promise<BenchResult | null> {
  const controller = new AbortController();
  const onSignal = (): void => {
    process.stderr.write(
      `\n${name}: stopping (the current phase ends first; Ctrl-C again to kill)\n`,
    );
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await runBench(options, { progress: createProgress(), signal: controller.signal });
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    process.stderr.write(`${name}: interrupted; fleets stopped and scratch data removed.\n`);
    process.exitCode = 130;
    return null;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** What was run, for the report: `keylane bench --quick`. */
function commandLine(command: Command): string {
  const path = commandPath(command).split(' ');
  // argv is [node, script, ...the subcommand names below the program's, ...flags].
  return [...path, ...process.argv.slice(1 + path.length)].join(' ');
}

async function readResults(file: string): Promise<BenchResult> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new InvalidOptionsError(
      '--from-results',
      `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    (parsed as { schemaVersion?: unknown }).schemaVersion !== 1
  ) {
    throw new InvalidOptionsError(
      '--from-results',
      `${file} is not a keylane-bench results file (schemaVersion 1)`,
    );
  }
  return parsed as BenchResult;
}
