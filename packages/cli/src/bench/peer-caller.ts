// One caller process of the `peers` section (forked by peers.ts, talks over IPC): it embeds one
// system on the shared table and Redis prefix, as a user's service process would, and runs its
// share of the load when told, so that several such processes load the system together.
//
// parent -> child: PeerCallerConfig, then { phase: 'closed' | 'open' }, then { phase: 'exit' }
// child -> parent: { ready: true } once the target exists and every key was read once, then
//                  for each phase { phase, result, latenciesMs } (or { error })
import { createBentocacheTarget } from './bentocache-target.js';
import { createEmbeddedEngine } from './embedded-engine.js';
import { runClosedLoop, runOpenLoop, type LoadResult } from './load.js';
import { execute, type ItemTarget } from './phases.js';
import { zipfCaller } from './workloads.js';
import { createZipf } from './zipf.js';

export type PeerSystem = 'embedded' | 'bentocache-l2';

export interface PeerCallerConfig {
  system: PeerSystem;
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  prefix: string;
  lanes: number;
  groupCommit: boolean;
  ttlMs: number;
  /** Decimal ids: the keys of the workload, hottest first. */
  keys: string[];
  zipfExponent: number;
  readShare: number;
  seed: number;
  /** This process's number: its callers' streams are its own. */
  index: number;
  /** Callers in this process (closed loop) and streams of its open loop. */
  callers: number;
  warmupMs: number;
  durationMs: number;
  /** This process's share of the offered rate. */
  ratePerSec: number;
}

export type PeerPhase = 'closed' | 'open';

export interface PeerPhaseReport {
  phase: PeerPhase;
  result: LoadResult;
  /** Every recorded latency of the window, to merge the processes' percentiles. */
  latenciesMs: number[];
}

/** Streams of a caller process: its index times this, plus the caller's own number. */
const STREAMS_PER_PROCESS = 1_000;
const OPEN_STREAM_OFFSET = 500;
/** Not the bench's other workloads' salts (1000, 2000). */
const PEER_SALT = 3_000;

async function createTarget(c: PeerCallerConfig): Promise<ItemTarget & { close(): Promise<void> }> {
  const base = {
    databaseUrl: c.databaseUrl,
    redisUrl: c.redisUrl,
    schema: c.schema,
    prefix: c.prefix,
  };
  return c.system === 'embedded'
    ? createEmbeddedEngine({ ...base, lanes: c.lanes, groupCommit: c.groupCommit })
    : createBentocacheTarget({ ...base, setup: 'l2', poolSize: c.lanes, ttlMs: c.ttlMs });
}

function send(message: unknown): void {
  process.send?.(message);
}

async function main(c: PeerCallerConfig): Promise<void> {
  const keys = c.keys.map((k) => BigInt(k));
  const zipf = createZipf(keys.length, c.zipfExponent);
  const stream = (i: number) =>
    zipfCaller(keys, zipf, c.seed, PEER_SALT, c.readShare, c.index * STREAMS_PER_PROCESS + i);
  const target = await createTarget(c);
  const run = execute(target);
  let next = 0;
  await Promise.all(
    Array.from({ length: c.callers }, async () => {
      while (next < keys.length) await target.read(keys[next++]!).catch(() => undefined);
    }),
  );
  const phases: Record<PeerPhase, (onLatency: (ms: number) => void) => Promise<LoadResult>> = {
    closed: async (onLatency) => {
      if (c.warmupMs > 0) {
        await runClosedLoop({
          concurrency: c.callers,
          durationMs: c.warmupMs,
          source: stream,
          execute: run,
        });
      }
      return runClosedLoop({
        concurrency: c.callers,
        durationMs: c.durationMs,
        source: stream,
        execute: run,
        onLatency,
      });
    },
    open: (onLatency) =>
      runOpenLoop({
        ratePerSec: c.ratePerSec,
        durationMs: c.durationMs,
        streams: c.callers,
        source: (i) => stream(OPEN_STREAM_OFFSET + i),
        execute: run,
        onLatency,
      }),
  };
  process.on('message', (m: { phase: PeerPhase | 'exit' }) => {
    if (m.phase === 'exit') {
      void target.close().finally(() => process.exit(0));
      return;
    }
    const { phase } = m;
    const latenciesMs: number[] = [];
    phases[phase]((ms) => latenciesMs.push(ms)).then(
      (result) => send({ phase, result, latenciesMs } satisfies PeerPhaseReport),
      (err: unknown) => send({ error: err instanceof Error ? err.message : String(err) }),
    );
  });
  send({ ready: true });
}

// The bench gone (killed, or interrupted twice): nothing to report to, so no reason to stay.
process.once('disconnect', () => process.exit(1));
process.once('message', (config: PeerCallerConfig) => {
  main(config).catch((err: unknown) => {
    send({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exit(1);
  });
});
