import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PALETTE, renderBarChart, resultFileName } from '../bench/index.js';
import { STRATEGY_NAMES } from '@keylane/engine/baselines';
import type { DemoReport } from './report.js';
import { SCENARIO_NAMES, SCENARIOS } from './scenario/index.js';

/** Where `keylane demo` writes when `--out` does not say: a folder of its own in the current one. */
export const DEFAULT_DEMO_OUT_DIR = 'keylane-demo';

/**
 * Stale reads per strategy as a grouped bar chart: a group per strategy, a bar per run it had
 * (the plain run, and split view and instance loss for the serial ones), each labelled with
 * its count, so the zeros of serial-guarded read as zeros.
 */
export function renderDemoChart(report: DemoReport): string {
  const runs = [...report.strategies, ...report.scenarios];
  const strategies = STRATEGY_NAMES.filter((s) => runs.some((r) => r.strategy === s));
  const scenarios = SCENARIO_NAMES.filter((n) => runs.some((r) => r.scenario === n));
  const c = report.config;
  return renderBarChart({
    title: `keylane demo: stale reads per strategy (seed ${report.seed}${report.quick ? ', quick' : ''}, ${c.instances} instances, ${c.callers} callers)`,
    unit: 'stale reads (checker violations)',
    groups: strategies,
    series: scenarios.map((name, i) => ({ name: SCENARIOS[name].label, color: PALETTE[i]! })),
    value: (g, s) => {
      const run = runs.find((r) => r.strategy === strategies[g] && r.scenario === scenarios[s]);
      // One run per bar: no spread to show, so min = median = max draws no whisker.
      return run
        ? {
            median: run.violations,
            min: run.violations,
            max: run.violations,
            runs: [run.violations],
          }
        : null;
    },
    valueLabels: true,
    footnote: 'one run each',
  });
}

export interface DemoFiles {
  json: string;
  chart: string;
}

/** Writes `<dir>/<start time>.json` (the report `--json` prints) and the chart beside it as `.svg`. */
export async function writeDemoOutputs(report: DemoReport, dir: string): Promise<DemoFiles> {
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const json = join(out, resultFileName(report.startedAt));
  const chart = json.replace(/\.json$/, '.svg');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(chart, renderDemoChart(report));
  return { json, chart };
}
