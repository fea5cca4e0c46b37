import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { checkConvergence, checkHistory, countByKind, HistoryRecorder, type CheckResult, type ConvergenceResult } from '@keylane/checker';
import { createTestContext, startRedisCluster, startRedisServer, type RedisClusterHandle, type TestContext } from '@keylane/harness';
import { Redis } from 'ioredis';
import type { Cluster } from 'ioredis';
import pg from 'pg';
import { isDeepStrictEqual } from 'node:util';
import { Cache, newToken } from '../src/cache/cache.js';
import { guardKeys, hashTag } from '../src/cache/keys.js';
import { LeaseCode } from '../src/cache/scripts.js';
import { createEngine, type LabEngineOptions } from '../src/baselines.js';
import { MarkerNotReplicatedError, type Engine, type EngineStats, type Entity, type StrategyName } from '../src/index.js';
import { createItems, ensureItemsTable, type Items } from '../src/items/index.js';
import { sleep, waitFor } from './helpers.js';
import { runCheckedWorkload, type CheckedWorkloadResult } from './support/checked-workload.js';
import { createUserTables, insertUser, loadUser, renameAndAddEmail, usersEntity, type User } from './support/users.js';
import { inspect } from '../src/testing.js';

/**
 * The engine on a real Redis Cluster (3 masters, each with a replica, on loopback ports):
 * every guard script on keys of every master, the two-engine races, a checked workload, and
 * write markers through a master's failover with and without `markerReplicas`.
 */
let cluster: RedisClusterHandle;
let ctx: TestContext;
const clients: Cluster[] = [];
const engines: Engine[] = [];
const caches: Cache[] = [];

/** A Cluster client set up the way the engine's README asks: no offline queue, so calls fail fast. */
function clusterClient(): Cluster {
  const client = cluster.client({ lazyConnect: true, enableOfflineQueue: false, redisOptions: { commandTimeout: 2_000 } });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

async function engineOn(client: Cluster, prefix: string, options: Partial<LabEngineOptions> = {}, redis: object = {}): Promise<Engine> {
  const engine = await createEngine({
    postgres: { connectionString: ctx.databaseUrl },
    redis: { client, keyPrefix: prefix, ...redis },
    lanes: 2,
    ...options,
  });
  engines.push(engine);
  return engine;
}

/** Ids whose keys (under `prefix`, entity `entity`) land on each master: `perMaster` of each. */
async function idsOnEveryMaster(prefix: string, entity: string, perMaster: number, from = 1): Promise<Map<number, number[]>> {
  const byMaster = new Map<number, number[]>();
  for (let id = from; [...byMaster.values()].filter((ids) => ids.length >= perMaster).length < 3; id += 1) {
    const master = await cluster.masterOf(`${hashTag(prefix, entity, String(id))}:v`);
    const ids = byMaster.get(master) ?? [];
    if (ids.length < perMaster) ids.push(id);
    byMaster.set(master, ids);
  }
  return byMaster;
}

beforeAll(async () => {
  cluster = await startRedisCluster();
  ctx = await createTestContext({ name: 'engine_cluster' });
  await ensureItemsTable(ctx.pg, ctx.schema);
  await createUserTables(ctx.pg, ctx.schema);
}, 60_000);

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await Promise.all(caches.map((c) => c.close()));
  await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
  await cluster?.stop();
  await ctx?.dispose();
});

describe('the guard scripts on a Redis Cluster', () => {
  it('keeps every key of one id in one slot, and the ids of a workload spread over every master', async () => {
    const prefix = `${ctx.prefix}_slots`;
    const byMaster = await idsOnEveryMaster(prefix, 't', 2);
    expect(byMaster.size).toBe(3);
    const probe = cluster.node(cluster.nodes[0]!.port);
    try {
      for (const id of [...byMaster.values()].flat()) {
        const k = guardKeys(hashTag(prefix, 't', String(id)));
        const slots = await Promise.all([k.value, k.lease, k.writes, k.soloWriter, k.lock].map((key) => probe.cluster('KEYSLOT', key)));
        expect(new Set(slots).size).toBe(1);
      }
    } finally {
      await probe.quit();
    }
  });

  it('runs lease, fill, write begin and end, invalidate and marker expiry on each master', async () => {
    const prefix = `${ctx.prefix}_scripts`;
    const c = new Cache({
      redis: { kind: 'client', client: clusterClient(), markerReplication: { replicas: 0, timeoutMs: 100 } },
      leaseTtlMs: 5_000,
      markerTtlMs: 300,
      onError: () => undefined,
    });
    caches.push(c);
    await c.start();
    const byMaster = await idsOnEveryMaster(prefix, 't', 1);
    for (const [master, [id]] of byMaster) {
      const tag = hashTag(prefix, 't', String(id));
      const lease = await c.lease(tag);
      expect(lease.code).toBe(LeaseCode.Granted);
      expect((await c.lease(tag)).code).toBe(LeaseCode.Busy);
      expect(await c.fill(tag, lease.token, 'v1', 60_000)).toBe(true);
      expect(await c.get(tag)).toBe('v1');
      // A lease taken before a write cannot fill after it began.
      await c.invalidate(tag);
      const stale = await c.lease(tag);
      const writer = newToken();
      const redisNow = await c.beginWrite(tag, writer);
      expect(Math.abs(redisNow - Date.now())).toBeLessThan(5_000);
      expect((await c.lease(tag)).code).toBe(LeaseCode.WriteInProgress);
      expect(await c.fill(tag, stale.token, 'old', 60_000)).toBe(false);
      // The solo writer fills its committed value at its end.
      expect(await c.endWrite(tag, writer, true, 'v2', 60_000)).toBe(true);
      expect(await c.get(tag)).toBe('v2');
      await c.invalidate(tag);
      expect(await c.get(tag)).toBeNull();
      // A marker left behind (unknown outcome) expires on its own, on this master's clock.
      await c.beginWrite(tag, newToken());
      expect((await c.lease(tag)).code).toBe(LeaseCode.WriteInProgress);
      await sleep(400);
      expect((await c.lease(tag)).code).toBe(LeaseCode.Granted);
      expect(await cluster.masterOf(`${tag}:w`)).toBe(master);
    }
  });

  it('with markerReplicas, the marker is on the replica when the begin returns', async () => {
    const prefix = `${ctx.prefix}_wait`;
    const c = new Cache({
      redis: { kind: 'client', client: clusterClient(), markerReplication: { replicas: 1, timeoutMs: 1_000 } },
      leaseTtlMs: 5_000,
      markerTtlMs: 10_000,
      onError: () => undefined,
    });
    caches.push(c);
    await c.start();
    for (const [master, [id]] of await idsOnEveryMaster(prefix, 't', 1)) {
      const tag = hashTag(prefix, 't', String(id));
      const [replica] = await cluster.replicasOf(master);
      const onReplica = cluster.node(replica!);
      try {
        await onReplica.call('READONLY');
        await c.beginWrite(tag, newToken());
        expect(await onReplica.zcard(`${tag}:w`)).toBe(1);
      } finally {
        await onReplica.quit();
      }
    }
  });
});

describe('two engines on a Redis Cluster', () => {
  it('racing on the relational entity: cache-aside ends stale, serial-guarded never', async () => {
    const race = async (strategy: StrategyName, base: bigint): Promise<{ stale: number; guarded: number }> => {
      const prefix = `${ctx.prefix}_rel_${strategy}`;
      const reader = await engineOn(clusterClient(), prefix, { strategy, chaos: { fillDelayMs: 60 } });
      const writer = await engineOn(clusterClient(), prefix, { strategy, chaos: { writeDelayMs: 15 } });
      const [r, w] = [reader, writer].map((e) => e.entity(usersEntity(ctx.schema))) as [Entity<User>, Entity<User>];
      let stale = 0;
      for (let round = 0; round < 12; round += 1) {
        const id = base + BigInt(round);
        await insertUser(ctx.pg, ctx.schema, id, `u${round}`);
        const offset = round % 3 === 0 ? -10 : (round % 3) * 10;
        await Promise.all([
          (async () => {
            if (offset < 0) await sleep(-offset);
            await r.get(id);
          })(),
          (async () => {
            if (offset > 0) await sleep(offset);
            await w.mutate(id, (tx, key) => renameAndAddEmail(tx, ctx.schema, key, `renamed${round}`, `r${round}@example.com`));
          })(),
        ]);
        const { cached } = await inspect(r, id);
        if (cached !== undefined && !isDeepStrictEqual(cached, await loadUser(ctx.schema)(ctx.pg, id))) stale += 1;
      }
      const { fillsRejected, leases } = r.stats();
      return { stale, guarded: fillsRejected + leases.writeInProgress };
    };
    const [aside, guarded] = await Promise.all([race('cache-aside', 1_000n), race('serial-guarded', 2_000n)]);
    expect(aside.stale).toBeGreaterThan(0);
    expect(guarded.stale).toBe(0);
    expect(guarded.guarded).toBeGreaterThan(0);
  });

  it('a checked workload over keys on every master: cache-aside shows stale reads, serial-guarded none', async () => {
    const [aside, guarded] = await Promise.all([
      workload({ name: 'wl_aside', strategy: 'cache-aside', ms: 3_000 }),
      workload({ name: 'wl_guarded', strategy: 'serial-guarded', ms: 3_000 }),
    ]);
    report('workload on the cluster', { aside, guarded });
    expect(aside.check.violations.length + aside.diverged).toBeGreaterThan(0);
    expect(guarded.check.ok).toBe(true);
    expect(guarded.diverged).toBe(0);
    expect(guarded.writesOk).toBeGreaterThan(20);
  }, 60_000);
});

describe('write markers through a master failover', () => {
  /**
   * One write whose marker the master's replica never sees (its link is cut before the begin,
   * the replica held with SIGSTOP), then the master dies and that replica takes over while the
   * write's transaction waits on a row lock; a reader on another engine misses on the new
   * master; the writer commits and its write end is lost (its Redis link dies, as a crashed
   * writer's would). `cut`: whether the replica link is cut before the begin.
   */
  async function failoverDuringWrite(name: string, markerReplicas: number, cut: boolean): Promise<FailoverOutcome> {
    const prefix = `${ctx.prefix}_${name}`;
    const id = [...(await idsOnEveryMaster(prefix, 'items', 1, 100)).values()][0]![0]!;
    const key = `${hashTag(prefix, 'items', String(id))}:v`;
    const master = await cluster.masterOf(key);
    const [replica] = await cluster.replicasOf(master);
    const writerClient = clusterClient();
    const readerClient = clusterClient();
    const redis = markerReplicas > 0 ? { markerReplicas, markerReplicationTimeoutMs: 200 } : {};
    const w = createItems(await engineOn(writerClient, prefix, { markerTtlMs: 20_000 }, redis), { schema: ctx.schema });
    const readerEngine = await engineOn(readerClient, prefix, { markerTtlMs: 20_000 }, redis);
    const r = createItems(readerEngine, { schema: ctx.schema });
    const rec = new HistoryRecorder();
    const read = async (who: string): Promise<string | null> => {
      const op = rec.begin(who, String(id), 'read');
      const item = await r.read(id);
      const value = item === null ? null : String(item.value);
      op.ok(value);
      return value;
    };
    const write = async (value: string): Promise<'ok' | Error> => {
      const op = rec.begin('writer', String(id), 'write', value);
      try {
        await w.write(id, value);
        op.ok();
        return 'ok';
      } catch (err) {
        if ((err as { outcomeUnknown?: boolean }).outcomeUnknown) op.unknown();
        else op.fail();
        return err as Error;
      }
    };
    expect(await write('old')).toBe('ok');
    expect(await read('reader')).toBe('old');
    // The writer filled 'old' at its end (no other write overlapped it): both copies hold it.

    const locker = new pg.Client({ connectionString: ctx.databaseUrl });
    await locker.connect();
    let result: 'ok' | Error;
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM "${ctx.schema}".items WHERE id = $1 FOR UPDATE`, [id]);
      if (cut) {
        cluster.pause(replica!);
        const onMaster = cluster.node(master);
        await onMaster.client('KILL', 'TYPE', 'replica');
        await onMaster.quit();
      }
      const writing = write('new');
      // The marker is up and the transaction waits for the row (or the write was refused already).
      await sleep(500);
      await cluster.kill(master);
      if (cut) cluster.resume(replica!);
      await cluster.waitForPromotion([replica!]);
      // The reader's client learns the new slot owner on its first command there.
      await waitFor(async () => (await readerClient.exists(key).then(() => true, () => false)));
      await read('reader');
      writerClient.disconnect();
      await locker.query('COMMIT');
      result = await writing;
    } finally {
      await locker.end();
      cluster.resume(replica!);
    }
    const after = await read('reader');
    const stored = (await inspect(r.entity, id)).stored;
    const cached = (await inspect(r.entity, id)).cached;
    await cluster.restart(master);
    return {
      result,
      after,
      stored: stored === null ? null : String(stored.value),
      check: checkHistory(rec.operations),
      convergence: checkConvergence([
        {
          key: String(id),
          cached: cached === undefined ? undefined : cached === null ? null : String(cached.value),
          stored: stored === null ? null : String(stored.value),
        },
      ]),
      readerStats: readerEngine.stats(),
    };
  }

  it('without markerReplicas, a failover to a replica that missed the marker lets the old value be cached and read after the write', async () => {
    const out = await failoverDuringWrite('fo_unsafe', 0, true);
    report('failover, markerReplicas 0, replica missed the marker', summary(out));
    expect(out.result).toBe('ok');
    expect(out.stored).toBe('new');
    expect(out.after).toBe('old');
    expect(out.check.violations.map((v) => v.kind)).toContain('stale-read');
    expect(out.convergence.ok).toBe(false);
  }, 90_000);

  it('with markerReplicas: 1, the same cut refuses the write before its transaction: nothing committed, nothing stale', async () => {
    const out = await failoverDuringWrite('fo_refused', 1, true);
    report('failover, markerReplicas 1, replica link cut', summary(out));
    expect(out.result).toBeInstanceOf(MarkerNotReplicatedError);
    expect((out.result as MarkerNotReplicatedError).code).toBe('unavailable');
    expect((out.result as Error).message).toMatch(/reached 0 of the 1 Redis replicas.*nothing was committed/);
    expect(out.stored).toBe('old');
    expect(out.check.ok).toBe(true);
    expect(out.convergence.ok).toBe(true);
  }, 90_000);

  it('with markerReplicas: 1 and a healthy replica, the marker survives the master: the reader does not fill, nothing stale', async () => {
    const out = await failoverDuringWrite('fo_kept', 1, false);
    report('failover, markerReplicas 1, healthy replica', summary(out));
    expect(out.result).toBe('ok');
    expect(out.stored).toBe('new');
    expect(out.after).toBe('new');
    expect(out.readerStats.leases.writeInProgress).toBeGreaterThan(0);
    expect(out.check.ok).toBe(true);
    expect(out.convergence.ok).toBe(true);
  }, 90_000);

  it('a master killed mid-workload with markerReplicas: 1: the checker finds nothing', async () => {
    const out = await workload({
      name: 'wl_failover',
      strategy: 'serial-guarded',
      ms: 8_000,
      redis: { markerReplicas: 1, markerReplicationTimeoutMs: 200 },
      fault: async (ids) => {
        await sleep(1_500);
        const master = await cluster.masterOf(`${hashTag(`${ctx.prefix}_wl_failover`, 'items', String(ids[0]))}:v`);
        const promoted = await cluster.killMasterAndWaitForPromotion(master);
        // The promoted master has no replica until the old one rejoins: its writes are refused meanwhile.
        await cluster.restart(master);
        return `killed master ${master}, replica ${promoted} promoted, old master back as its replica`;
      },
    });
    report('workload with a master killed, markerReplicas 1', out);
    expect(out.check.ok).toBe(true);
    expect(out.diverged).toBe(0);
    expect(out.writesOk).toBeGreaterThan(10);
  }, 120_000);
});

describe('markerReplicas on a standalone Redis (the url form)', () => {
  it('refuses writes while the master has no replica, and runs them once one is in sync', async () => {
    const [master, replica] = [await startRedisServer(), await startRedisServer()];
    const engine = await createEngine({
      postgres: { connectionString: ctx.databaseUrl },
      redis: { url: master.url, keyPrefix: `${ctx.prefix}_standalone`, markerReplicas: 1, markerReplicationTimeoutMs: 100 },
      lanes: 1,
    });
    const items = createItems(engine, { schema: ctx.schema });
    const link = new Redis(replica.url);
    try {
      const refused = await items.write(900, 'alone').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(MarkerNotReplicatedError);
      expect((await inspect(items.entity, 900)).stored).toBeNull();
      // Diskless both ways: these servers have no dir of their own, and a full sync would leave an RDB in the cwd.
      const onMaster = new Redis(master.url);
      await onMaster.config('SET', 'repl-diskless-sync', 'yes', 'repl-diskless-sync-delay', '0');
      await link.config('SET', 'repl-diskless-load', 'on-empty-db');
      await link.replicaof('127.0.0.1', master.port);
      await onMaster.quit();
      // Refused until the replica has loaded the sync and acknowledges; then accepted.
      let attempts = 0;
      await waitFor(async () => {
        attempts += 1;
        return items.write(900, `replicated${attempts}`).then(
          () => true,
          (err: unknown) => {
            if (err instanceof MarkerNotReplicatedError) return false;
            throw err;
          },
        );
      });
      // The write that went through is the one stored (a further write right away could be
      // refused again: just after its first sync a replica may not acknowledge WAIT for ~1 s).
      expect((await items.read(900))?.value).toBe(`replicated${attempts}`);
      expect((await inspect(items.entity, 900)).stored?.value).toBe(`replicated${attempts}`);
    } finally {
      await engine.close();
      await link.quit();
      await Promise.all([master.stop(), replica.stop()]);
    }
  });
});

type WorkloadResult = CheckedWorkloadResult & { fault?: string };

/**
 * Two engines (each on its own Cluster client), 8 callers alternating between them, reads and
 * writes (1 in 3) on 12 keys, 4 per master, chaos delays widening the race windows; every
 * operation recorded and checked, then every key's cache entry against its row at rest.
 */
async function workload(options: {
  name: string;
  strategy: StrategyName;
  ms: number;
  redis?: object;
  fault?: (ids: number[]) => Promise<string>;
}): Promise<WorkloadResult> {
  const prefix = `${ctx.prefix}_${options.name}`;
  const chaos = { fillDelayMs: 20, writeDelayMs: 5 };
  const make = async (): Promise<Items> =>
    createItems(await engineOn(clusterClient(), prefix, { strategy: options.strategy, chaos }, options.redis ?? {}), {
      schema: ctx.schema,
    });
  const sides = [await make(), await make()];
  const base = 10_000 + Math.floor(Math.random() * 1_000_000) * 100;
  const ids = [...(await idsOnEveryMaster(prefix, 'items', 4, base)).values()].flat();
  const [result, fault] = await Promise.all([
    runCheckedWorkload({ sides, ids, callers: 8, ms: options.ms, writeShare: 1 / 3, failedPauseMs: 50 }),
    options.fault?.(ids),
  ]);
  return { ...result, ...(fault === undefined ? {} : { fault }) };
}

interface FailoverOutcome {
  /** The write of 'new': acknowledged, or its error. */
  result: 'ok' | Error;
  /** What the reader read after the write returned. */
  after: string | null;
  stored: string | null;
  check: CheckResult;
  convergence: ConvergenceResult;
  readerStats: EngineStats;
}

function summary(out: FailoverOutcome): Record<string, unknown> {
  return {
    result: out.result === 'ok' ? 'ok' : `${out.result.name}: ${out.result.message}`,
    readAfterWrite: out.after,
    stored: out.stored,
    violations: out.check.violations.map((v) => v.kind),
    converged: out.convergence.ok,
  };
}

/** KEYLANE_VERBOSE=1 prints each run's figures (the README quotes them), violations counted by kind. */
function report(title: string, data: unknown): void {
  if (!process.env['KEYLANE_VERBOSE']) return;
  const brief = (_: string, v: unknown): unknown => {
    if (typeof v === 'bigint') return String(v);
    if (v !== null && typeof v === 'object' && 'violations' in v && 'opsChecked' in v) return countByKind((v as CheckResult).violations);
    return v;
  };
  console.log(`${title}: ${JSON.stringify(data, brief)}`);
}
