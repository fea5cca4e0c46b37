import { request } from 'undici';
import { METRICS_PATH } from '@keylane/protocol';

/** The engine counters the bench reads from an instance's /metrics (summed over a fleet). */
export interface EngineCounters {
  reads: number;
  writes: number;
  hits: number;
  misses: number;
  coalesced: number;
  dbReads: number;
  fills: number;
  /**
   * CPU seconds (user + system) of the serving processes, `process_cpu_seconds_total`
   * (prom-client's, from process.cpuUsage()). For the engine embedded in the bench this is the
   * bench's own process, load generator included.
   */
  cpuSeconds: number;
}

const SERIES: Readonly<Record<keyof EngineCounters, string>> = {
  reads: 'keylane_engine_reads_total',
  writes: 'keylane_engine_writes_total',
  hits: 'keylane_cache_hits_total',
  misses: 'keylane_cache_misses_total',
  coalesced: 'keylane_cache_coalesced_total',
  dbReads: 'keylane_db_reads_total',
  fills: 'keylane_cache_fills_total',
  cpuSeconds: 'process_cpu_seconds_total',
};

export function emptyCounters(): EngineCounters {
  return {
    reads: 0,
    writes: 0,
    hits: 0,
    misses: 0,
    coalesced: 0,
    dbReads: 0,
    fills: 0,
    cpuSeconds: 0,
  };
}

/** Sums each counter's samples in Prometheus text (all label sets). */
export function parseCounters(text: string): EngineCounters {
  const counters = emptyCounters();
  const byName = new Map<string, keyof EngineCounters>(
    Object.entries(SERIES).map(([k, v]) => [v, k as keyof EngineCounters]),
  );
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const nameEnd = line.search(/[{ ]/);
    const field = byName.get(nameEnd < 0 ? line : line.slice(0, nameEnd));
    if (!field) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) counters[field] += value;
  }
  return counters;
}

export async function scrapeCounters(instanceUrl: string): Promise<EngineCounters> {
  const res = await request(`${instanceUrl}${METRICS_PATH}`, {
    headersTimeout: 5_000,
    bodyTimeout: 5_000,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200)
    throw new Error(`GET ${instanceUrl}${METRICS_PATH} answered ${res.statusCode}`);
  return parseCounters(text);
}

export async function scrapeFleet(urls: readonly string[]): Promise<EngineCounters> {
  const all = await Promise.all(urls.map((url) => scrapeCounters(url)));
  return all.reduce((sum, c) => addCounters(sum, c, 1), emptyCounters());
}

export function addCounters(a: EngineCounters, b: EngineCounters, sign: 1 | -1): EngineCounters {
  const out = emptyCounters();
  for (const key of Object.keys(out) as (keyof EngineCounters)[]) out[key] = a[key] + sign * b[key];
  return out;
}
