import type { ConvergenceResult } from './convergence.js';
import {
  VIOLATION_KINDS,
  type CheckResult,
  type Violation,
  type ViolationKind,
} from './linearizability.js';

/** Violations counted by kind, every kind present (0 when none). */
export function countByKind(violations: Iterable<Violation>): Record<ViolationKind, number> {
  const zeros = Object.fromEntries(VIOLATION_KINDS.map((k) => [k, 0])) as Record<
    ViolationKind,
    number
  >;
  return { ...zeros, ...countKindsFound(violations) };
}

/**
 * Violations counted by kind, only the kinds found (`{}` for a clean history), in the order
 * they first occur: the shape a report stores, where zeros would only add noise.
 */
export function countKindsFound(
  violations: Iterable<Violation>,
): Partial<Record<ViolationKind, number>> {
  const counts: Partial<Record<ViolationKind, number>> = {};
  for (const v of violations) counts[v.kind] = (counts[v.kind] ?? 0) + 1;
  return counts;
}

export function formatViolation(v: Violation): string {
  return `[${v.kind}] ${v.message}`;
}

export interface FormatOptions {
  /** Violations (or diverged keys) listed in full; the rest are counted. @default 10 */
  limit?: number;
}

function limitOf(options: FormatOptions): number {
  const limit = options.limit ?? 10;
  if (!Number.isInteger(limit) || limit < 0)
    throw new TypeError(`options.limit must be a non-negative integer, got ${limit}`);
  return limit;
}

const n = (x: number): string => x.toLocaleString('en-US');
const count = (x: number, noun: string): string => `${n(x)} ${noun}${x === 1 ? '' : 's'}`;

/**
 * A few lines for a terminal, e.g.
 * ```
 * linearizability: 3 violations in 1,000 keys / 20,000 ops (2 stale-read, 1 order)
 *   [stale-read] key 42: read by p3 -> "v1" [...] began after ...
 * ```
 */
export function formatCheckResult(result: CheckResult, options: FormatOptions = {}): string {
  const limit = limitOf(options);
  const scope = `${count(result.keysChecked, 'key')} / ${count(result.opsChecked, 'op')}`;
  if (result.ok) return `linearizability: ok (${scope})`;
  const counts = countByKind(result.violations);
  const kinds = VIOLATION_KINDS.filter((k) => counts[k] > 0)
    .map((k) => `${n(counts[k])} ${k}`)
    .join(', ');
  const total = result.violations.length;
  const lines = [`linearizability: ${count(total, 'violation')} in ${scope} (${kinds})`];
  for (const v of result.violations.slice(0, limit)) lines.push(`  ${formatViolation(v)}`);
  if (total > limit) lines.push(`  ... and ${n(total - limit)} more`);
  return lines.join('\n');
}

export function formatConvergenceResult(
  result: ConvergenceResult,
  options: FormatOptions = {},
): string {
  const limit = limitOf(options);
  if (result.ok) return `convergence: ok (${count(result.keysChecked, 'key')})`;
  const total = result.diverged.length;
  const lines = [`convergence: ${n(total)} of ${count(result.keysChecked, 'key')} diverged`];
  for (const d of result.diverged.slice(0, limit)) lines.push(`  ${d.message}`);
  if (total > limit) lines.push(`  ... and ${n(total - limit)} more`);
  return lines.join('\n');
}
