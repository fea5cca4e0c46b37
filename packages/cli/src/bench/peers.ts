import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { formatLongId } from '@keylane/protocol';
import { BenchMeasurementError } from './errors.js';
import { LatencyRecorder } from './latency.js';
import type { LoadResult } from './load.js';
import type { PeerCallerConfig, PeerPhase, PeerPhaseReport, PeerSystem } from './peer-caller.js';
import type { StepReporter } from './phases.js';
import { BENTOCACHE, EMBEDDED, type InProcessName } from './system-names.js';

export type { PeerSystem } from './peer-caller.js';

export const PEER_SYSTEMS = ['embedded', 'bentocache-l2'] as const satisfies readonly PeerSystem[];
export const PEER_NAMES: Readonly<Record<PeerSystem, InProcessName>> = {
  embedded: EMBEDDED,
  'bentocache-l2': BENTOCACHE.l2,
};
/** Caller processes, each embedding the system, as the side measurement ran them. */
export const PEER_PROCESSES = 4;
/** Keys of the peers' workload (the hottest of the bench's key space) and its read share. */
export const PEER_KEYS = 1_000;
export const PEER_READ_SHARE = 0.9;

/** One system embedded in PEER_PROCESSES processes: their windows merged. */
export interface PeerMeasurement {
  processes: number;
  keys: number;
  readShare: number;
  closed: LoadResult;
  open: LoadResult;
}

export interface PeersContext extends Omit<
  PeerCallerConfig,
  'system' | 'keys' | 'index' | 'callers' | 'ratePerSec' | 'prefix'
> {
  prefix: string;
  keys: readonly bigint[];
  /** Callers over all processes (each gets its share). */
  concurrency: number;
  /** Offered rate over all processes. */
  ratePerSec: number;
  step: StepReporter;
  /** Run before each system (the bench puts the table back to the seeded rows). */
  beforeEach: () => Promise<void>;
}

const PEER_CALLER = fileURLToPath(new URL('./peer-caller.js', import.meta.url));

/**
 * Windows of several processes that ran at the same time, as one: operations, errors and
 * throughputs add up, the CPU of the processes too, and the percentiles come from every
 * latency the processes recorded. Pure.
 */
export function mergeWindows(
  reports: readonly { result: LoadResult; latenciesMs: readonly number[] }[],
): LoadResult {
  const recorder = new LatencyRecorder();
  for (const r of reports) for (const ms of r.latenciesMs) recorder.recordMs(ms);
  const latency = recorder.percentiles();
  recorder.destroy();
  const sum = (pick: (r: LoadResult) => number): number =>
    reports.reduce((total, r) => total + pick(r.result), 0);
  return {
    ops: sum((r) => r.ops),
    errors: sum((r) => r.errors),
    firstError: reports.find((r) => r.result.firstError !== null)?.result.firstError ?? null,
    durationMs: Math.max(0, ...reports.map((r) => r.result.durationMs)),
    throughput: sum((r) => r.throughput),
    generatorCpu: sum((r) => r.generatorCpu),
    latency,
  };
}

interface CallerProcess {
  child: ChildProcess;
  /** The next message from it (a report, readiness or an error). */
  next(): Promise<Record<string, unknown>>;
  stderr(): string;
}

function startCaller(config: PeerCallerConfig): CallerProcess {
  const child = fork(PEER_CALLER, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk.slice(-2_000)));
  const queue: Record<string, unknown>[] = [];
  const waiters: ((m: Record<string, unknown>) => void)[] = [];
  const deliver = (m: Record<string, unknown>): void => {
    const waiter = waiters.shift();
    if (waiter) waiter(m);
    else queue.push(m);
  };
  child.on('message', (m: Record<string, unknown>) => deliver(m));
  child.once('exit', (code) => deliver({ error: `caller process exited (${code}): ${stderr}` }));
  child.send(config);
  return {
    child,
    next: () => {
      const queued = queue.shift();
      return queued ? Promise.resolve(queued) : new Promise((resolve) => waiters.push(resolve));
    },
    stderr: () => stderr,
  };
}

async function nextOf(caller: CallerProcess, what: string): Promise<Record<string, unknown>> {
  const m = await caller.next();
  if (typeof m['error'] === 'string')
    throw new BenchMeasurementError(`peer caller, ${what}: ${m['error']}`);
  return m;
}

/** One system in PEER_PROCESSES processes: every key read once, the closed loop, the open loop. */
async function measurePeer(system: PeerSystem, ctx: PeersContext): Promise<PeerMeasurement> {
  const { step, keys, concurrency, ratePerSec, prefix, beforeEach: _, ...shared } = ctx;
  const callers = Array.from({ length: PEER_PROCESSES }, (_, index) =>
    startCaller({
      ...shared,
      system,
      prefix: `${prefix}-${system}`,
      keys: keys.map((k) => formatLongId(k)),
      index,
      callers: Math.max(1, Math.round(concurrency / PEER_PROCESSES)),
      ratePerSec: Math.max(1, Math.round(ratePerSec / PEER_PROCESSES)),
    }),
  );
  try {
    await Promise.all(callers.map((c) => nextOf(c, 'start')));
    const phase = async (name: PeerPhase): Promise<LoadResult> => {
      for (const c of callers) c.child.send({ phase: name });
      const reports = (await Promise.all(
        callers.map((c) => nextOf(c, name)),
      )) as unknown as PeerPhaseReport[];
      return mergeWindows(reports);
    };
    step(`peers: ${PEER_NAMES[system]} in ${PEER_PROCESSES} processes, closed loop`);
    const closed = await phase('closed');
    step(
      `peers: ${PEER_NAMES[system]} in ${PEER_PROCESSES} processes, open loop (${ratePerSec}/s)`,
    );
    const open = await phase('open');
    return { processes: PEER_PROCESSES, keys: keys.length, readShare: ctx.readShare, closed, open };
  } finally {
    await Promise.all(
      callers.map(async (c) => {
        if (c.child.exitCode !== null || c.child.signalCode !== null) return;
        const exited = new Promise((resolve) => c.child.once('exit', resolve));
        // Its own close (the engine's connections), or a kill when it does not come.
        c.child.send({ phase: 'exit' }, (err) => {
          if (err) c.child.kill('SIGKILL');
        });
        const timer = setTimeout(() => c.child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** Each peer system in turn (the embedded engine, then bentocache with Redis only). */
export async function measurePeers(
  ctx: PeersContext,
): Promise<Partial<Record<PeerSystem, PeerMeasurement>>> {
  const out: Partial<Record<PeerSystem, PeerMeasurement>> = {};
  for (const system of PEER_SYSTEMS) {
    await ctx.beforeEach();
    out[system] = await measurePeer(system, ctx);
  }
  return out;
}
