/**
 * `pnpm run bench:checker [-- --ops 1000000 --keys 1000 --corrupt 1000 --seed 1 --profiles sparse,dense,stress]`
 *
 * Generates a history the way the demo records one (many callers, overlapping operations,
 * timestamps in nanoseconds, operations in completion order), by running a real register
 * per key with each operation taking effect at one instant inside its interval, so the
 * history is linearizable by construction. Then checks it, and checks it again with
 * `--corrupt` reads changed to an older value of their key. Reports times; asserts nothing.
 *
 * Profiles differ in how crowded each key is (operations in flight on the key when one
 * begins, itself included): `sparse` spreads the operations over a minute (about 1.02, a
 * near-sequential history), `dense` about 3 (what the demo records), `stress` about 15.
 */
import { parseArgs } from 'node:util';
import { checkHistory, countByKind, type Operation, type OperationOutcome } from '@keylane/checker';

const { values: args } = parseArgs({
  options: {
    ops: { type: 'string', default: '1000000' },
    keys: { type: 'string', default: '1000' },
    corrupt: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    profiles: { type: 'string', default: 'sparse,dense,stress' },
  },
});

/** Operations in flight per key each profile aims at; `null`: the one-minute run as generated. */
const PROFILES: Record<string, number | null> = { sparse: null, dense: 3, stress: 15 };

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
const profiles = args.profiles.split(',').map((name) => {
  if (!Object.hasOwn(PROFILES, name)) {
    console.error(
      `--profiles: unknown profile ${JSON.stringify(name)} (expected ${Object.keys(PROFILES).join(', ')})`,
    );
    process.exit(2);
  }
  return name;
});

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
// Mostly sub-millisecond, with a tail of slow operations so intervals overlap a lot.
const MEAN_DURATION_NS = 0.95 * 400_000 + 0.05 * 20_000_000;

/**
 * The run's length for `inFlight` operations in flight per key: an operation beginning meets
 * (arrival rate per key) x (mean duration) others besides itself.
 */
function spanFor(inFlight: number | null): number {
  if (inFlight === null) return SPAN_NS;
  return (totalOps * MEAN_DURATION_NS) / (keyCount * (inFlight - 1));
}

function generate(spanNs: number): Operation[] {
  const gens: Gen[] = new Array<Gen>(totalOps);
  for (let i = 0; i < totalOps; i++) {
    const inv = Math.floor(rand() * spanNs);
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

/** Mean operations in flight on an operation's key when it begins, itself included. */
function meanInFlight(ops: readonly Operation[]): number {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    let list = byKey.get(op.key);
    if (!list) byKey.set(op.key, (list = []));
    list.push(op);
  }
  let total = 0;
  for (const list of byKey.values()) {
    const starts = list.map((o) => o.invokeNs).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const ends = list.map((o) => o.completeNs).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // At each start: starts so far (itself included) minus operations already ended.
    let ended = 0;
    for (let i = 0; i < starts.length; i++) {
      while (ended < ends.length && ends[ended]! < starts[i]!) ended++;
      total += i + 1 - ended;
    }
  }
  return total / ops.length;
}

function seconds(fromNs: bigint): string {
  return (Number(process.hrtime.bigint() - fromNs) / 1e9).toFixed(2);
}
const fmt = (x: number): string => x.toLocaleString('en-US');

for (const profile of profiles) {
  let t = process.hrtime.bigint();
  const history = generate(spanFor(PROFILES[profile] ?? null));
  console.log(
    `${profile}: generated ${fmt(history.length)} ops over ${fmt(keyCount)} keys in ${seconds(t)} s (seed ${seed}), ` +
      `${meanInFlight(history).toFixed(2)} in flight per key`,
  );

  t = process.hrtime.bigint();
  const clean = checkHistory(history);
  const cleanS = seconds(t);
  console.log(
    `${profile}: checkHistory (linearizable run): ${cleanS} s, ${fmt(Math.round(history.length / Number(cleanS)))} ops/s, ` +
      `ok=${clean.ok}, ${fmt(clean.keysChecked)} keys, ${fmt(clean.violations.length)} violations`,
  );
  if (!clean.ok) {
    console.error(
      `BUG: a register simulation (${profile}) produced a history the checker rejects:`,
    );
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
      `${profile}: checkHistory (${fmt(corrupt)} read${corrupt === 1 ? '' : 's'} changed to an old value): ${dirtyS} s, ` +
        `${fmt(Math.round(bad.length / Number(dirtyS)))} ops/s, ok=${dirty.ok}, ${fmt(dirty.violations.length)} violations (${kinds})`,
    );
  }
}
