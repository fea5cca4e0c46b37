import type { Operation } from './operation.js';

/**
 * Human-readable pieces of violation messages. Times are shown relative to the history's
 * first invocation, in milliseconds with microsecond precision: raw hrtime values are
 * meaningless to a reader.
 */
export function formatOffset(ns: bigint, baseNs: bigint): string {
  const d = ns - baseNs;
  const sign = d < 0n ? '-' : '+';
  const abs = d < 0n ? -d : d;
  const ms = abs / 1_000_000n;
  const frac = (abs % 1_000_000n) / 1_000n;
  return `${sign}${ms}.${frac.toString().padStart(3, '0')}ms`;
}

export function formatValue(value: string | null): string {
  return value === null ? 'null (absent)' : JSON.stringify(value);
}

/** e.g. `read by p3 -> "v5" [+1.000ms, +2.500ms]` or `write "v5" by p1 (outcome unknown) [+0.500ms, ?]`. */
export function describeOperation(op: Operation, baseNs: bigint): string {
  const start = formatOffset(op.invokeNs, baseNs);
  if (op.kind === 'read') {
    return `read by ${op.process} -> ${formatValue(op.value)} [${start}, ${formatOffset(op.completeNs, baseNs)}]`;
  }
  const note = op.outcome === 'ok' ? '' : ` (outcome ${op.outcome})`;
  // An unknown write may take effect any time after it began: its end is not a bound.
  const end = op.outcome === 'unknown' ? '?' : formatOffset(op.completeNs, baseNs);
  return `write ${formatValue(op.value)} by ${op.process}${note} [${start}, ${end}]`;
}
