/**
 * One process of an embedded run (see embedded.ts): the engine inside the process, no fleet,
 * no HTTP hop, its share of the workload's callers calling the items entity directly. The
 * parent sends the configuration as argv[2], waits for `ready`, sends `start`, and reads the
 * history this process writes (checker JSONL) once it said `done`.
 */
import { once } from 'node:events';
import { HistoryRecorder, writeJsonlFile } from '@keylane/checker';
import { createEngine } from '@keylane/engine/baselines';
import { createWorkload, runWorkload } from '../workload/index.js';
import type { EmbeddedChildConfig, EmbeddedChildMessage } from './embedded.js';
import { redisFor } from './redis-target.js';
import { entityAdapter } from './entities.js';

/** Resolves once the message is handed to the IPC channel: exit() right after send() can lose it. */
function send(message: EmbeddedChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) {
      reject(new Error('embedded-child runs only as a child of runEmbedded (no IPC channel)'));
      return;
    }
    process.send(message, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as EmbeddedChildConfig;
  const { replica } = config;
  const redis = redisFor(config.redisUrl, config.prefix, config.redisCluster);
  const engine = await createEngine({
    postgres: {
      connectionString: config.databaseUrl,
      ...(replica ? { replicas: [{ connectionString: replica.url }] } : {}),
    },
    redis: redis.redis,
    lanes: config.lanes,
    strategy: config.strategy,
    chaos: { ...config.chaos, ...(replica ? { replicaReads: replica.reads ?? 'watermark' } : {}) },
    ...(config.cacheTtlMs === undefined ? {} : { cacheTtlMs: config.cacheTtlMs }),
  });
  try {
    const client = entityAdapter(config.entity).embedded(engine, config.schema);
    const workload = createWorkload({ seed: config.seed });
    const recorder = new HistoryRecorder();
    const started = once(process, 'message');
    await send({ type: 'ready' });
    await started;
    const run = await runWorkload({
      workload,
      callers: config.callerIndices.map((index) => ({ name: `c${index}`, index, client })),
      recorder,
      durationMs: config.durationMs,
      minOperations: config.minOperations,
    });
    recorder.abandonPending();
    await writeJsonlFile(config.historyFile, recorder.operations);
    await send({
      type: 'done',
      startedNs: String(run.startedNs),
      endedNs: String(run.endedNs),
      operations: run.operations,
      replicaReads: engine.stats().replicaReads,
    });
  } finally {
    await engine.close();
    await redis.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
