import { formatValue } from './describe.js';

/**
 * One key's state after quiescence. `cached`: `undefined` when nothing is cached, `null`
 * when the cache holds "absent", else the cached value. `stored`: the DB row's value, or
 * `null` when there is no row. Values are compared as strings: map items to the same
 * string the history records (e.g. the written value) before calling.
 */
export interface ConvergenceEntry {
  key: string;
  cached: string | null | undefined;
  stored: string | null;
}

export interface Divergence extends ConvergenceEntry {
  /** e.g. `key 42: the cache holds "v3" but the database holds "v5"`. */
  message: string;
}

export interface ConvergenceResult {
  /** True when no cached entry disagrees with its row. */
  ok: boolean;
  keysChecked: number;
  diverged: Divergence[];
}

/**
 * After quiescence every cached entry must equal its DB row; an empty cache entry always
 * agrees (the next read fills it from the DB). Unlike linearizability this is a property of
 * the end state, and it catches what no read observed: a stale entry nobody read again.
 */
export function checkConvergence(entries: Iterable<ConvergenceEntry>): ConvergenceResult {
  const diverged: Divergence[] = [];
  let keysChecked = 0;
  for (const e of entries) {
    keysChecked++;
    if (e.cached === undefined || e.cached === e.stored) continue;
    const cache =
      e.cached === null ? 'the cache holds "absent"' : `the cache holds ${formatValue(e.cached)}`;
    const db =
      e.stored === null ? 'the database has no row' : `the database holds ${formatValue(e.stored)}`;
    diverged.push({
      key: e.key,
      cached: e.cached,
      stored: e.stored,
      message: `key ${e.key}: ${cache} but ${db}`,
    });
  }
  return { ok: diverged.length === 0, keysChecked, diverged };
}
