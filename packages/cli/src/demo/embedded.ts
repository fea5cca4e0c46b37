import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJsonlFile, type Operation } from '@keylane/checker';
import type { ReplicaReadStats } from '@keylane/engine';
import { createEngine, type StrategyName } from '@keylane/engine/baselines';
import { createScratchNames, dropScratch } from '@keylane/harness';
import { DEFAULT_CHAOS, DEFAULT_FLEET_OPTIONS, type FleetChaos } from '../fleet/index.js';
import { InvalidOptionsError } from '@keylane/protocol';
import pg from 'pg';
import { entityAdapter, type DemoEntity } from './entities.js';
import { redisFor, type RedisClusterNode } from './redis-target.js';
import { analyzeRun, type ScenarioProgress, type ScenarioResult } from './scenario/index.js';

/** What the parent hands each embedded process (as JSON in argv[2]). */
export interface EmbeddedChildConfig {
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  prefix: string;
  strategy: StrategyName;
  entity: DemoEntity;
  lanes: number;
  chaos: Required<FleetChaos>;
  seed: number;
  /** The workload's caller streams this process runs. */
  callerIndices: number[];
  durationMs: number;
  minOperations: number;
  /** Where the process writes its history (checker JSONL). */
  historyFile: string;
  /** The engine's `cacheTtlMs`; undefined: its default. */
  cacheTtlMs?: number;
  /** A streaming replica misses may read (`postgres.replicas`), and by which rule. */
  replica?: EmbeddedReplica;
  /** Startup nodes of a Redis Cluster the engine uses instead of `redisUrl`'s server. */
  redisCluster?: readonly RedisClusterNode[];
}

/** A streaming replica of the run's database for the engines' misses. */
export interface EmbeddedReplica {
  url: string;
  /** `naive`: the unsafe split (misses read it whatever it replayed). @default 'watermark' */
  reads?: 'watermark' | 'naive';
}

export type EmbeddedChildMessage =
  | { type: 'ready' }
  | {
      type: 'done';
      startedNs: string;
      endedNs: string;
      operations: number;
      replicaReads: ReplicaReadStats;
    };

export interface EmbeddedRunOptions {
  strategy: StrategyName;
  databaseUrl: string;
  redisUrl: string;
  /** Processes, each embedding its own engine on the same keys. @default 4 */
  processes?: number;
  /** Callers in all, spread round-robin over the processes. @default 16 */
  callers?: number;
  seed: number;
  durationMs: number;
  /** Operations to reach (in all) before stopping, up to 3 x durationMs. @default 0 */
  minOperations?: number;
  /** @default DEFAULT_CHAOS */
  chaos?: FleetChaos;
  /** Lanes per process. @default DEFAULT_FLEET_OPTIONS.lanes */
  lanes?: number;
  /** @default 'items' */
  entity?: DemoEntity;
  /** Cache TTL of every process's engine (short: more misses). @default the engine's */
  cacheTtlMs?: number;
  /**
   * A streaming replica of `databaseUrl` the processes' misses may read (serial-guarded
   * only); the result then carries `replicaReads`, summed over the processes.
   */
  replica?: EmbeddedReplica;
  /**
   * A Redis Cluster's startup nodes: every process's engine, and the at-rest inspection, use
   * an ioredis `Cluster` on them instead of `redisUrl`'s server. The run's keys are left in
   * the cluster (`redisUrl`'s server is cleaned as usual); they carry the cache TTL.
   */
  redisCluster?: readonly RedisClusterNode[];
  keepHistory?: boolean;
  onProgress?: (progress: ScenarioProgress) => void;
  signal?: AbortSignal;
}

const CHILD = fileURLToPath(new URL('./embedded-child.js', import.meta.url));
/** A process that has not said `ready` by then is not coming (engine start-up takes ~1 s). */
const READY_TIMEOUT_MS = 30_000;

/**
 * The embedded deployment: `processes` Node processes each embed the engine (no fleet, no
 * SDK, no routing), and every one of them calls every key of one seeded workload, as the
 * processes of a user's own service would. The histories of all processes are checked as one
 * (they share the machine's monotonic clock), and the data is compared at rest.
 */
export async function runEmbedded(options: EmbeddedRunOptions): Promise<ScenarioResult> {
  const processes = options.processes ?? 4;
  if (!Number.isInteger(processes) || processes < 2 || processes > 32) {
    throw new InvalidOptionsError('processes', `must be an integer in [2, 32], got ${processes}`);
  }
  const callers = options.callers ?? 16;
  if (!Number.isInteger(callers) || callers < processes || callers > 1024) {
    throw new InvalidOptionsError(
      'callers',
      `must be an integer in [${processes}, 1024] (at least one per process), got ${callers}`,
    );
  }
  const { strategy, databaseUrl, redisUrl, seed, durationMs } = options;
  const entity = options.entity ?? 'items';
  const adapter = entityAdapter(entity);
  const report = (phase: ScenarioProgress['phase'], elapsedMs: number): void =>
    options.onProgress?.({ phase, elapsedMs, durationMs, ops: 0, notOk: 0 });
  const space = createScratchNames(`${strategy}-embedded`);
  const dir = await mkdtemp(join(tmpdir(), 'keylane-embedded-'));
  const children: ChildProcess[] = [];
  const inspectorRedis = redisFor(redisUrl, space.prefix, options.redisCluster);
  const inspector = await adapter
    .ensureTables(databaseUrl, space.schema)
    .then(() =>
      createEngine({
        postgres: { connectionString: databaseUrl },
        redis: inspectorRedis.redis,
        lanes: 1,
      }),
    )
    .catch(async (err: unknown) => {
      await inspectorRedis.close();
      throw err;
    });
  try {
    if (options.replica) await waitReplayed(databaseUrl, options.replica.url);
    report('starting', 0);
    const perProcess = Math.ceil((options.minOperations ?? 0) / processes);
    const configs: EmbeddedChildConfig[] = Array.from({ length: processes }, (_, p) => ({
      databaseUrl,
      redisUrl,
      schema: space.schema,
      prefix: space.prefix,
      strategy,
      entity,
      lanes: options.lanes ?? DEFAULT_FLEET_OPTIONS.lanes,
      chaos: { ...DEFAULT_CHAOS, ...options.chaos },
      seed,
      callerIndices: Array.from({ length: callers }, (_, i) => i).filter(
        (i) => i % processes === p,
      ),
      durationMs,
      minOperations: perProcess,
      historyFile: join(dir, `p${p}.jsonl`),
      ...(options.cacheTtlMs === undefined ? {} : { cacheTtlMs: options.cacheTtlMs }),
      ...(options.replica ? { replica: options.replica } : {}),
      ...(options.redisCluster ? { redisCluster: options.redisCluster } : {}),
    }));
    const exits: Promise<void>[] = [];
    const ready: Promise<unknown>[] = [];
    const done: Promise<Extract<EmbeddedChildMessage, { type: 'done' }>>[] = [];
    for (const [p, config] of configs.entries()) {
      const child = fork(CHILD, [JSON.stringify(config)], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      children.push(child);
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<void>((resolve, reject) => {
        child.once('exit', (code, signal) =>
          code === 0
            ? resolve()
            : reject(
                new Error(`embedded process ${p} exited with ${code ?? signal}: ${stderr.trim()}`),
              ),
        );
      });
      exited.catch(() => undefined); // raced below, so a crash is reported where it matters
      exits.push(exited);
      ready.push(waitMessage(child, 'ready', exited));
      done.push(waitMessage(child, 'done', exited));
    }
    await withTimeout(Promise.all(ready), READY_TIMEOUT_MS, 'embedded processes did not start');
    options.signal?.throwIfAborted();
    const startedAt = Date.now();
    report('running', 0);
    for (const child of children) child.send({ type: 'start' });
    const finished = await Promise.all(done);
    await Promise.all(exits);
    report('checking', Date.now() - startedAt);

    const ops: Operation[] = [];
    for (const config of configs) {
      for await (const op of readJsonlFile(config.historyFile)) ops.push(op);
    }
    const run = {
      startedNs: finished.map((f) => BigInt(f.startedNs)).reduce((a, b) => (b < a ? b : a)),
      endedNs: finished.map((f) => BigInt(f.endedNs)).reduce((a, b) => (b > a ? b : a)),
    };
    const result = await analyzeRun({
      strategy,
      scenario: 'plain',
      seed,
      ops,
      run,
      inspect: adapter.inspector(inspector, space.schema),
      keepHistory: options.keepHistory ?? false,
    });
    report('done', Date.now() - startedAt);
    if (options.replica) result.replicaReads = sumReplicaReads(finished.map((f) => f.replicaReads));
    return result;
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await inspector.close().catch(() => undefined);
    await inspectorRedis.close();
    await dropScratch(databaseUrl, redisUrl, space).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Waits until the replica has replayed everything the primary had once the run's tables were
 * made, so the processes' first misses find them there (a lagging replica is otherwise fine:
 * that is what the watermark is for).
 */
async function waitReplayed(primaryUrl: string, replicaUrl: string): Promise<void> {
  const primary = new pg.Client({ connectionString: primaryUrl });
  const replica = new pg.Client({ connectionString: replicaUrl });
  await Promise.all([primary.connect(), replica.connect()]);
  try {
    const { rows } = await primary.query<{ lsn: string }>(
      'SELECT pg_current_wal_insert_lsn()::text AS lsn',
    );
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const { rows: replayed } = await replica.query<{ caught: boolean | null }>(
        'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught',
        [rows[0]!.lsn],
      );
      if (replayed[0]?.caught === true) return;
      if (replayed[0]?.caught === null)
        throw new Error(
          `${replicaUrl} is not a streaming replica (pg_last_wal_replay_lsn() is null)`,
        );
      if (Date.now() > deadline)
        throw new Error(
          `the replica did not replay the run's tables within ${READY_TIMEOUT_MS} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await Promise.allSettled([primary.end(), replica.end()]);
  }
}

function sumReplicaReads(all: readonly ReplicaReadStats[]): ReplicaReadStats {
  const total: ReplicaReadStats = {
    served: 0,
    lagging: 0,
    unsettled: 0,
    noFloor: 0,
    unavailable: 0,
    notStandby: 0,
  };
  for (const one of all)
    for (const key of Object.keys(total) as (keyof ReplicaReadStats)[]) total[key] += one[key];
  return total;
}

function waitMessage<T extends EmbeddedChildMessage['type']>(
  child: ChildProcess,
  type: T,
  exited: Promise<void>,
): Promise<Extract<EmbeddedChildMessage, { type: T }>> {
  const message = new Promise<Extract<EmbeddedChildMessage, { type: T }>>((resolve) => {
    const onMessage = (m: EmbeddedChildMessage): void => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      resolve(m as Extract<EmbeddedChildMessage, { type: T }>);
    };
    child.on('message', onMessage);
  });
  // An exit before the message is a failure (even a clean one).
  return Promise.race([
    message,
    exited.then(() => {
      throw new Error(`an embedded process exited before it said ${type}`);
    }),
  ]);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
