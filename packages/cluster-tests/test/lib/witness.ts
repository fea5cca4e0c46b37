/**
 * The example caller (the compose file's `example-caller`) as a second witness: a program in
 * its own container, on the compose network, writing keys 1..N and reading each back. Its log
 * lines say what it saw; this reads them for the fault's time window.
 */
export interface WitnessSummary {
  /** Write + read pairs that both succeeded. */
  served: number;
  /** Operations that failed (any `code`). */
  failures: number;
  /** A read right after its own acknowledged write returned an older version, or nothing. */
  staleReads: number;
  /** An acknowledged write's version not above the key's previous acknowledged one: a write was lost. */
  versionRegressions: number;
  /** The keys it uses, which the host workload must stay away from. */
  keys: number[];
}

interface ServedLine {
  msg: 'served';
  key: number;
  written: number;
  read: 'own-write' | 'newer' | 'older' | 'missing';
}

function parse(line: string): Record<string, unknown> | null {
  // `docker logs` prints the container's lines as they were written: one JSON object each.
  const start = line.indexOf('{');
  if (start < 0) return null;
  try {
    return JSON.parse(line.slice(start)) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export function summarizeWitness(lines: readonly string[]): WitnessSummary {
  const summary: WitnessSummary = { served: 0, failures: 0, staleReads: 0, versionRegressions: 0, keys: [] };
  const lastWritten = new Map<number, number>();
  for (const line of lines) {
    const entry = parse(line);
    if (!entry) continue;
    if (typeof entry.code === 'string') summary.failures += 1;
    if (entry.msg !== 'served') continue;
    const served = entry as unknown as ServedLine;
    summary.served += 1;
    if (served.read === 'older' || served.read === 'missing') summary.staleReads += 1;
    const previous = lastWritten.get(served.key);
    if (previous !== undefined && served.written <= previous) summary.versionRegressions += 1;
    lastWritten.set(served.key, served.written);
  }
  summary.keys = [...lastWritten.keys()].sort((a, b) => a - b);
  return summary;
}
