import type { Operation } from '../../src/index.js';

/**
 * The reference the fast checker is compared with: Wing & Gong's exhaustive search ("Testing
 * and verifying concurrent objects", JPDC 17, 1993) for one register, with memoization of
 * failed (linearized set, register value) states as in Lowe's refinement. Exponential, for
 * histories of a dozen operations per key. It shares no logic with the zone checker:
 * it tries every order that respects real time and simulates the register.
 *
 * Same model as `checkHistory`: a precedes b iff a.completeNs < b.invokeNs; the register
 * starts at null; failed writes never happen; unknown writes may happen at any point after
 * they began, or never; reads that did not end ok are ignored.
 */
export function isLinearizableExhaustive(history: readonly Operation[]): boolean {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(op);
  }
  for (const ops of byKey.values()) if (!registerLinearizable(ops)) return false;
  return true;
}

interface Step {
  kind: 'read' | 'write';
  value: string | null;
  inv: bigint;
  /** null: +infinity (an unknown write bounds nothing). */
  cmp: bigint | null;
  required: boolean;
}

function registerLinearizable(ops: readonly Operation[]): boolean {
  const steps: Step[] = [];
  for (const op of ops) {
    if (op.kind === 'read' && op.outcome === 'ok') {
      steps.push({
        kind: 'read',
        value: op.value,
        inv: op.invokeNs,
        cmp: op.completeNs,
        required: true,
      });
    } else if (op.kind === 'write' && op.outcome === 'ok') {
      steps.push({
        kind: 'write',
        value: op.value,
        inv: op.invokeNs,
        cmp: op.completeNs,
        required: true,
      });
    } else if (op.kind === 'write' && op.outcome === 'unknown') {
      steps.push({ kind: 'write', value: op.value, inv: op.invokeNs, cmp: null, required: false });
    }
  }
  if (steps.length > 24)
    throw new Error(`exhaustive search is for small histories, got ${steps.length} steps`);
  let requiredMask = 0;
  steps.forEach((s, i) => {
    if (s.required) requiredMask |= 1 << i;
  });
  const failed = new Set<string>();

  const search = (done: number, value: string | null): boolean => {
    if ((done & requiredMask) === requiredMask) return true;
    const state = `${done}|${value === null ? '' : 'v' + value}`;
    if (failed.has(state)) return false;
    for (let i = 0; i < steps.length; i++) {
      if (done & (1 << i)) continue;
      const s = steps[i]!;
      // s may go next only if no other pending operation completed before s began.
      let minimal = true;
      for (let j = 0; j < steps.length && minimal; j++) {
        if (j === i || done & (1 << j)) continue;
        const c = steps[j]!.cmp;
        if (c !== null && c < s.inv) minimal = false;
      }
      if (!minimal) continue;
      if (s.kind === 'read') {
        if (s.value === value && search(done | (1 << i), value)) return true;
      } else if (search(done | (1 << i), s.value)) {
        return true;
      }
    }
    failed.add(state);
    return false;
  };
  return search(0, null);
}
