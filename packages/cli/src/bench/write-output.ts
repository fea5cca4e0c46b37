import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { renderCharts, renderMarkdown } from './report.js';
import type { BenchResult } from './bench-result.js';

export interface OutputPaths {
  /** Directory of the results JSON (named after the run's start, UTC). */
  resultsDir: string;
  /** The Markdown report; null writes none. Charts go to `charts/` beside it. */
  reportPath: string | null;
  /** Markdown included in the report's "Why" section. */
  notesPath: string | null;
  command: string;
}

export interface WrittenFiles {
  results: string;
  report: string | null;
  charts: string[];
}

/**
 * Where a run writes when `--out` and `--report` do not say: a folder of its own in the current
 * directory, never a parent workspace's (the bench may run inside someone else's project,
 * whose `bench/` folder is theirs). `npm run bench` at the repository root passes the
 * committed `bench/results` and `bench/report.md` instead.
 */
export const DEFAULT_OUTPUT_PATHS = {
  resultsDir: 'keylane-bench/results',
  reportPath: 'keylane-bench/report.md',
} as const;

/** `2026-11-26T08-51-02Z`: sortable, and valid in every file system. */
export function resultFileName(startedAt: string): string {
  return `${startedAt.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}.json`;
}

export async function writeOutputs(result: BenchResult, paths: OutputPaths): Promise<WrittenFiles> {
  await mkdir(paths.resultsDir, { recursive: true });
  const results = resolve(paths.resultsDir, resultFileName(result.startedAt));
  await writeFile(results, JSON.stringify(result, null, 2) + '\n');
  if (!paths.reportPath) return { results, report: null, charts: [] };
  const reportDir = dirname(resolve(paths.reportPath));
  const chartsDir = join(reportDir, 'charts');
  await mkdir(chartsDir, { recursive: true });
  const charts: string[] = [];
  for (const [name, svg] of Object.entries(renderCharts(result))) {
    const file = join(chartsDir, name);
    await writeFile(file, svg);
    charts.push(file);
  }
  const notes = paths.notesPath ? await readFile(paths.notesPath, 'utf8') : undefined;
  const markdown = renderMarkdown(result, {
    chartsHref: 'charts/',
    resultsHref: relative(reportDir, results).split('\\').join('/'),
    command: paths.command,
    ...(notes !== undefined ? { notes } : {}),
  });
  await writeFile(resolve(paths.reportPath), markdown);
  return { results, report: resolve(paths.reportPath), charts };
}
