import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startRedisCluster, TEST_DATABASE_URL, TEST_REDIS_URL, type RedisClusterHandle } from '@keylane/harness';
// From dist: the embedded processes are forked from the built embedded-child.js.
import { runEmbedded, type ScenarioResult } from '../dist/index.js';

/**
 * The demo's embedded workload (4 processes each embedding the engine, 16 seeded callers, the
 * demo's chaos delays, the merged history checked, the data compared at rest) on a real Redis
 * Cluster: 3 masters with a replica each, on loopback. cache-aside is caught in the same
 * harness; serial-guarded is clean, and its run adds keys on every master.
 */
let cluster: RedisClusterHandle;

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

function run(strategy: 'cache-aside' | 'serial-guarded'): Promise<ScenarioResult> {
  return runEmbedded({
    strategy,
    databaseUrl: TEST_DATABASE_URL,
    redisUrl: TEST_REDIS_URL,
    seed: 5,
    durationMs: 3_000,
    minOperations: 1_500,
    lanes: 2,
    redisCluster: cluster.startupNodes,
  });
}

function brief(r: ScenarioResult): string {
  return JSON.stringify({ ops: r.ops, violations: r.violationsByKind, diverged: r.divergedKeys, lost: r.ackedWritesLost, examples: r.violationExamples });
}

/** Keys on each master, in port order. */
async function keysPerMaster(): Promise<number[]> {
  const masters = new Set<number>();
  for (const node of cluster.nodes) {
    const conn = cluster.node(node.port);
    try {
      const role = (await conn.call('ROLE')) as [string, ...unknown[]];
      if (role[0] === 'master') masters.add(node.port);
    } finally {
      conn.disconnect();
    }
  }
  const counts: number[] = [];
  for (const port of [...masters].sort()) {
    const conn = cluster.node(port);
    try {
      counts.push(await conn.dbsize());
    } finally {
      conn.disconnect();
    }
  }
  return counts;
}

describe('the demo workload on a Redis Cluster', () => {
  it('cache-aside serves stale reads; serial-guarded none, and its run adds keys on every master', async () => {
    const unsafe = await run('cache-aside');
    const before = await keysPerMaster();
    const guarded = await run('serial-guarded');
    const after = await keysPerMaster();
    if (process.env['KEYLANE_VERBOSE']) console.log(`cache-aside: ${brief(unsafe)}\nserial-guarded: ${brief(guarded)}\nkeys per master: ${before.join(', ')} -> ${after.join(', ')}`);
    expect(unsafe.violations).toBeGreaterThan(0);
    expect({ violations: guarded.violations, diverged: guarded.divergedKeys, lost: guarded.ackedWritesLost }).toEqual({
      violations: 0,
      diverged: 0,
      lost: 0,
    });
    expect(guarded.ops).toBeGreaterThanOrEqual(1_500);
    // Every key of one id shares a hash tag, so ids spread over the slots: each master got some.
    expect(after).toHaveLength(3);
    after.forEach((count, i) => expect(count).toBeGreaterThan(before[i]!));
  }, 120_000);
});
