import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FaultResult } from './run-fault.js';

/** Where a run leaves its results (ignored by git): one JSON and one Markdown table per fleet. */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../.results');

const int = (n: number): string => n.toLocaleString('en-US');
const time = (v: number | null): string => (v === null ? '—' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);

/** The README's fault table: one row per fault. */
export function renderFaultTable(results: readonly FaultResult[]): string {
  const header =
    '| fault | ops | stale reads (violations) | keys diverged at rest | acked writes lost | failed requests | route away p50 / p99 | time to recover | example caller: served / failed / stale |';
  const rule = '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const rows = results.map((r) =>
    [
      r.label,
      int(r.ops),
      int(r.violations),
      int(r.divergedKeys),
      int(r.ackedWritesLost),
      int(r.failedRequests),
      r.routeAwayP50Ms === null ? '—' : `${time(r.routeAwayP50Ms)} / ${time(r.routeAwayP99Ms)}`,
      time(r.recoverMs),
      `${int(r.witness.served)} / ${int(r.witness.failures)} / ${int(r.witness.staleReads + r.witness.versionRegressions)}`,
    ].join(' | '),
  );
  return [header, rule, ...rows.map((row) => `| ${row} |`)].join('\n');
}

export async function saveResults(fleet: string, results: readonly FaultResult[]): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const table = renderFaultTable(results);
  await writeFile(join(RESULTS_DIR, `${fleet}.json`), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(RESULTS_DIR, `${fleet}.md`), `${table}\n`);
  return table;
}
