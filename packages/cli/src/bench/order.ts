/**
 * The order the strategies run in during run `run` (1-based) of `runs`: rotated by a different
 * offset each run, so no strategy always runs first on a cool machine or last on a tired one
 * (page cache, autovacuum, the instances of the previous fleet still exiting). With as many
 * runs as strategies every strategy takes every position once.
 */
export function strategyOrder<T>(strategies: readonly T[], run: number, runs: number): T[] {
  const n = strategies.length;
  if (n === 0) return [];
  const offset = ((run - 1) * Math.ceil(n / Math.max(1, runs))) % n;
  return [...strategies.slice(offset), ...strategies.slice(0, offset)];
}
