/**
 * `pnpm run bench [-- --ops 1000000 --keys 1000 --corrupt 1000 --seed 1]`
 *
 * Generates a history the way the demo records one (many callers, overlapping operations,
 * timestamps in nanoseconds, operations in completion order), by running a real register
 * per key with each operation taking effect at one instant inside its interval, so the
 * history is linearizable by construction. Then checks it, and checks it again with
 * `--corrupt` reads changed to an older value of their key. Reports times; asserts nothing.
 */
import { parseArgs } from 'node:util';
import { checkHistory } from './linearizability.js';
import type { Operation, OperationOutcome } from './operation.js';
import { countByKind } from './format.js';

const { values: args } = parseArgs({
  options: {
    ops: { type: 'string', default: '1000000' },
    keys: { type: 'string', default: '1000' },
    corrupt: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
  },
});

function positiveInt(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

const totalOps = positiveInt('ops', args.ops, 1);
const keyCount = positiveInt('keys', args.keys, 1);
const corrupt = positiveInt('corrupt', args.corrupt, 0);
const seed = positiveInt('seed', args.seed, 0);

/** mulberry32: a seeded PRNG, so runs are reproducible. */
function prng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(seed);

interface Gen {
  key: number;
  process: number;
  write: boolean;
  inv: number;
  cmp: number;
  at: number;
  outcome: OperationOutcome;
  value: string | null;
}

const BASE_NS = 1_000_000_000_000_000n;
const SPAN_NS = 60e9; // a one-minute run
const PROCESSES = 64;

function generate(): Operation[] {
  const gens: Gen[] = new Array<Gen>(totalOps);
  for (let i = 0; i < totalOps; i++) {
    const inv = Math.floor(rand() * SPAN_NS);
    // Mostly sub-millisecond, with a tail of slow operations so intervals overlap a lot.
    const dur = Math.floor(rand() < 0.95 ? rand() * 800_000 : rand() * 40_000_000);
    const write = rand() < 0.25;
    const roll = rand();
    const outcome: OperationOutcome = roll < 0.01 ? 'unknown' : roll < 0.015 ? 'fail' : 'ok';
    gens[i] = {
      key: Math.floor(rand() * keyCount),
      process: Math.floor(rand() * PROCESSES),
      write,
      inv,
      cmp: inv + dur,
      // Unknown writes may land after their recorded end; failed ones never land.
      at: inv + rand() * (outcome === 'unknown' ? dur * 3 : dur),
      outcome,
      value: write ? `w${i}` : null,
    };
  }
  const byEffect = gens
    .filter((g) => !(g.write && g.outcome === 'fail'))
    .sort((a, b) => a.at - b.at);
  const register = new Map<number, string>();
  for (const g of byEffect) {
    if (g.write) register.set(g.key, g.value!);
    else g.value = g.outcome === 'ok' ? (register.get(g.key) ?? null) : null;
  }
  gens.sort((a, b) => a.cmp - b.cmp);
  return gens.map((g) => ({
    process: `p${g.process}`,
    key: String(g.key),
    kind: g.write ? 'write' : 'read',
    value: g.value,
    invokeNs: BASE_NS + BigInt(g.inv),
    completeNs: BASE_NS + BigInt(g.cmp),
    outcome: g.outcome,
  }));
}

/** Changes `n` ok reads to return an acknowledged value their key held earlier. */
function corruptReads(ops: Operation[], n: number): Operation[] {
  const out = ops.slice();
  const earliest = new Map<string, string>();
  for (const op of ops) {
    if (op.kind === 'write' && op.outcome === 'ok' && !earliest.has(op.key))
      earliest.set(op.key, op.value!);
  }
  let done = 0;
  for (let tries = 0; done < n && tries < n * 100; tries++) {
    const i = Math.floor(rand() * out.length);
    const op = out[i]!;
    const old = earliest.get(op.key);
    if (op.kind !== 'read' || op.outcome !== 'ok' || old === undefined || op.value === old)
      continue;
    out[i] = { ...op, value: old };
    done++;
  }
  return out;
}

function seconds(fromNs: bigint): string {
  return (Number(process.hrtime.bigint() - fromNs) / 1e9).toFixed(2);
}
const fmt = (x: number): string => x.toLocaleString('en-US');

let t = process.hrtime.bigint();
const history = generate();
console.log(
  `generated ${fmt(history.length)} ops over ${fmt(keyCount)} keys in ${seconds(t)} s (seed ${seed})`,
);

t = process.hrtime.bigint();
const clean = checkHistory(history);
const cleanS = seconds(t);
console.log(
  `checkHistory (linearizable run): ${cleanS} s, ${fmt(Math.round(history.length / Number(cleanS)))} ops/s, ` +
    `ok=${clean.ok}, ${fmt(clean.keysChecked)} keys, ${fmt(clean.violations.length)} violations`,
);
if (!clean.ok) {
  console.error('BUG: a register simulation produced a history the checker rejects:');
  console.error(clean.violations[0]?.message);
  process.exitCode = 1;
}

if (corrupt > 0) {
  const bad = corruptReads(history, corrupt);
  t = process.hrtime.bigint();
  const dirty = checkHistory(bad);
  const dirtyS = seconds(t);
  const kinds = Object.entries(countByKind(dirty.violations))
    .filter(([, c]) => c > 0)
    .map(([k, c]) => `${fmt(c)} ${k}`)
    .join(', ');
  console.log(
    `checkHistory (${fmt(corrupt)} read${corrupt === 1 ? '' : 's'} changed to an old value): ${dirtyS} s, ok=${dirty.ok}, ` +
      `${fmt(dirty.violations.length)} violations (${kinds})`,
  );
}
