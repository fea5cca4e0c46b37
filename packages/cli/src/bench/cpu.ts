import type { LoadResult } from './load.js';

/**
 * CPU microseconds per operation: `cpuSeconds` used over a window in which `ops` operations
 * succeeded. NaN when there were none (or the CPU figure is missing, as in older results), so
 * the pairwise ratios skip that run. Pure.
 */
export function cpuMicrosPerOp(cpuSeconds: number | undefined, ops: number): number {
  if (cpuSeconds === undefined || !(ops > 0)) return Number.NaN;
  return (cpuSeconds * 1e6) / ops;
}

/** The load generator's (this process's) CPU microseconds per successful operation of a window. */
export function generatorMicrosPerOp(
  result: Pick<LoadResult, 'generatorCpu' | 'durationMs' | 'ops'>,
): number {
  // generatorCpu is in cores over the window: cores x ms = CPU ms.
  return cpuMicrosPerOp((result.generatorCpu * result.durationMs) / 1000, result.ops);
}
