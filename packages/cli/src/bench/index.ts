export { runBench, type RunBenchHooks } from './run-bench.js';
export type { BenchResult } from './bench-result.js';
export type { MachineInfo, RunResult } from './run-result.js';
export {
  resolveBenchOptions,
  DEFAULT_BENCH_OPTIONS,
  QUICK_BENCH_OPTIONS,
  SECTION_NAMES,
  type BenchOptions,
  type ResolvedBenchOptions,
  type SectionName,
} from './options.js';
export {
  summarize,
  evaluateTargets,
  DIRECT,
  type BenchSummary,
  type LoadSpread,
  type SystemName,
  type TargetVerdict,
} from './summary.js';
export { spread, pairwiseRatios, ratioSpread, type Spread } from './stats.js';
export { createZipf, type ZipfSampler } from './zipf.js';
export {
  createBenchWorkloads,
  WORKLOAD_NAMES,
  WORKLOAD_LABELS,
  DEFAULT_KEY_SPACE,
  type BenchWorkload,
  type KeySpaceOptions,
  type WorkloadName,
} from './workloads.js';
export {
  runClosedLoop,
  runOpenLoop,
  type ClosedLoopOptions,
  type OpenLoopOptions,
  type LoadResult,
} from './load.js';
export {
  LatencyRecorder,
  PERCENTILE_KEYS,
  type LatencyPercentiles,
  type PercentileKey,
} from './latency.js';
export {
  renderBarChart,
  niceAxis,
  escapeXml,
  PALETTE,
  type BarChart,
  type BarSeries,
} from './svg.js';
export { renderCharts, renderMarkdown, renderTerminal, fmtSpread } from './report.js';
export {
  writeOutputs,
  resultFileName,
  DEFAULT_OUTPUT_PATHS,
  type OutputPaths,
  type WrittenFiles,
} from './write-output.js';
export { parseCounters, type EngineCounters } from './metrics.js';
export { measureRouting, type RoutingMeasurement } from './routing.js';
export { createProgress, SILENT_PROGRESS, type BenchProgress } from './progress.js';
export { BenchMeasurementError } from './errors.js';
