import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { getFreePort } from './free-port.js';
import { waitForPing } from './redis-server.js';

const run = promisify(execFile);

/** One redis-server of the cluster, as the launcher last saw it. */
export interface ClusterNode {
  readonly port: number;
  /** The node's cluster id (CLUSTER MYID). */
  readonly id: string;
  readonly running: boolean;
  readonly pid: number | undefined;
}

/**
 * A real Redis Cluster on loopback: `masters` masters, each with `replicasPerMaster` replicas,
 * every node a redis-server on its own free port (the cluster bus on port + 10000), no
 * persistence, all files in one temp dir. For the engine's cluster tests and failover runs.
 */
export interface RedisClusterHandle {
  readonly nodes: readonly ClusterNode[];
  /** `127.0.0.1:port` of every node, for `new Cluster(...)`. */
  readonly startupNodes: readonly { host: string; port: number }[];
  /** A Cluster client the caller owns (close it with quit()). */
  client(options?: ClusterOptions): Cluster;
  /** A plain connection to one node (for CLUSTER and INFO), closed by the caller. */
  node(port: number): Redis;
  /** Port of the master serving `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  /** Ports of the replicas of the master on `port`, as that master reports them. */
  replicasOf(port: number): Promise<number[]>;
  /** SIGKILLs the node (its data is gone). */
  kill(port: number): Promise<void>;
  /** SIGSTOP / SIGCONT: a node that stops answering but keeps its sockets open. */
  pause(port: number): void;
  resume(port: number): void;
  /**
   * SIGKILLs the master on `port` and waits until one of its replicas serves its slots and the
   * cluster state is ok again. Returns the promoted replica's port.
   */
  killMasterAndWaitForPromotion(port: number, timeoutMs?: number): Promise<number>;
  /** Waits until one of `replicaPorts` is a master and the cluster is ok; returns its port. */
  waitForPromotion(replicaPorts: readonly number[], timeoutMs?: number): Promise<number>;
  /** `CLUSTER FAILOVER` on a replica (the coordinated, lossless kind); waits for the switch. */
  failover(replicaPort: number, timeoutMs?: number): Promise<void>;
  /** Restarts a killed node as an empty node of the cluster; waits until it is an in-sync replica. */
  restart(port: number): Promise<void>;
  /** Waits until every running node says cluster_state:ok. */
  waitOk(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes the temp dir. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** cluster-node-timeout: how long a master may be silent before its replica takes over. */
  nodeTimeoutMs?: number;
}

interface NodeState {
  port: number;
  id: string;
  child: ChildProcess | undefined;
}

const live = new Set<ChildProcess>();
// A test that fails before stop() must not leave redis-servers behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1_000;
  const dir = await mkdtemp(join(tmpdir(), 'keylane-redis-cluster-'));
  const states: NodeState[] = [];
  for (let i = 0; i < masters * (1 + replicasPerMaster); i += 1) {
    states.push({ port: await freeClusterPort(states.map((s) => s.port)), id: '', child: undefined });
  }

  const startNode = async (state: NodeState): Promise<void> => {
    const { port } = state;
    const proc = spawn(
      'redis-server',
      [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', String(nodeTimeoutMs),
        // A replica may take over however long its link has been down: the tests stop links on purpose.
        '--cluster-replica-validity-factor', '0',
        '--dir', dir,
        '--save', '',
        '--appendonly', 'no',
        '--logfile', join(dir, `redis-${port}.log`),
      ],
      { stdio: 'ignore' },
    );
    state.child = proc;
    live.add(proc);
    proc.once('exit', () => {
      live.delete(proc);
      if (state.child === proc) state.child = undefined;
    });
    const spawnError = once(proc, 'error').then(([err]: unknown[]) => {
      throw new Error(`could not start redis-server on port ${port}: ${String(err)}`);
    });
    await Promise.race([waitForPing(port), spawnError]);
  };

  const node = (port: number): Redis => {
    const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => null });
    redis.on('error', () => undefined);
    return redis;
  };
  const withNode = async <T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> => {
    const redis = node(port);
    try {
      return await fn(redis);
    } finally {
      await redis.quit().catch(() => redis.disconnect());
    }
  };
  const stateOf = (port: number): NodeState => {
    const state = states.find((s) => s.port === port);
    if (!state) throw new Error(`no cluster node on port ${port}`);
    return state;
  };
  const running = (): NodeState[] => states.filter((s) => s.child !== undefined);

  const waitOk = async (timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const infos = await Promise.all(
        running().map((s) => withNode(s.port, (r) => r.cluster('INFO')).catch(() => '')),
      );
      if (infos.every((info) => /cluster_state:ok/.test(info))) return;
      if (Date.now() > deadline) throw new Error(`redis cluster not ok within ${timeoutMs} ms: ${infos.join(' | ')}`);
      await sleep(100);
    }
  };

  const roleOf = (port: number): Promise<string> =>
    withNode(port, async (r) => String(((await r.call('ROLE')) as unknown[])[0]));

  const waitForPromotion = async (replicas: readonly number[], timeoutMs = 20_000): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const replica of replicas) {
        if (stateOf(replica).child && (await roleOf(replica).catch(() => '')) === 'master') {
          await waitOk(Math.max(1, deadline - Date.now()));
          return replica;
        }
      }
      if (Date.now() > deadline) throw new Error(`none of ${replicas.join(', ')} was promoted within ${timeoutMs} ms`);
      await sleep(50);
    }
  };

  const stop = async (): Promise<void> => {
    await Promise.all(
      states.map(async (s) => {
        const proc = s.child;
        if (!proc) return;
        s.child = undefined;
        const exited = once(proc, 'exit');
        proc.kill('SIGCONT');
        proc.kill('SIGKILL');
        await exited;
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await Promise.all(states.map(startNode));
    await run('redis-cli', [
      '--cluster', 'create',
      ...states.map((s) => `127.0.0.1:${s.port}`),
      '--cluster-replicas', String(replicasPerMaster),
      '--cluster-yes',
    ]);
    for (const s of states) s.id = await withNode(s.port, async (r) => String(await r.cluster('MYID')));
    await waitOk();
    // redis-cli creates the replicas after the slots; wait until every replica is in sync.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const roles = await Promise.all(states.map((s) => withNode(s.port, (r) => r.call('ROLE') as Promise<unknown[]>)));
      const synced = roles.filter((r) => r[0] === 'slave' && r[3] === 'connected').length;
      if (synced === masters * replicasPerMaster) break;
      if (Date.now() > deadline) throw new Error(`redis cluster replicas not in sync within 20 s: ${JSON.stringify(roles)}`);
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const killNode = async (port: number): Promise<void> => {
    const state = stateOf(port);
    const proc = state.child;
    if (!proc) return;
    state.child = undefined;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  };

  const replicasOf = (port: number): Promise<number[]> =>
    withNode(port, async (r) => {
      const role = (await r.call('ROLE')) as [string, number, [string, string, string][]];
      return role[2].map(([, p]) => Number(p));
    });

  return {
    get nodes() {
      return states.map((s) => ({ port: s.port, id: s.id, running: s.child !== undefined, pid: s.child?.pid }));
    },
    startupNodes: states.map((s) => ({ host: '127.0.0.1', port: s.port })),
    client(clusterOptions: ClusterOptions = {}) {
      return new Cluster(
        states.map((s) => ({ host: '127.0.0.1', port: s.port })),
        clusterOptions,
      );
    },
    node,
    async masterOf(key: string) {
      for (const s of running()) {
        const port = await withNode(s.port, async (r) => {
          const slot = (await r.cluster('KEYSLOT', key));
          const slots = await r.cluster('SLOTS');
          const range = slots.find(([from, to]) => slot >= from && slot <= to);
          return range?.[2]?.[1];
        }).catch(() => undefined);
        if (port !== undefined) return port;
      }
      throw new Error(`no running node knows the master of ${key}`);
    },
    replicasOf,
    kill: killNode,
    pause(port: number) {
      stateOf(port).child?.kill('SIGSTOP');
    },
    resume(port: number) {
      stateOf(port).child?.kill('SIGCONT');
    },
    async killMasterAndWaitForPromotion(port: number, timeoutMs = 20_000) {
      const replicas = await replicasOf(port);
      if (replicas.length === 0) throw new Error(`master ${port} has no replica to promote`);
      await killNode(port);
      return waitForPromotion(replicas, timeoutMs);
    },
    waitForPromotion,
    async failover(replicaPort: number, timeoutMs = 20_000) {
      await withNode(replicaPort, (r) => r.cluster('FAILOVER'));
      const deadline = Date.now() + timeoutMs;
      while ((await roleOf(replicaPort)) !== 'master') {
        if (Date.now() > deadline) throw new Error(`replica ${replicaPort} did not take over within ${timeoutMs} ms`);
        await sleep(50);
      }
      await waitOk(Math.max(1, deadline - Date.now()));
    },
    async restart(port: number) {
      const state = stateOf(port);
      if (state.child) return;
      // Its nodes file still names it: it rejoins, learns it lost its slots, and becomes a replica.
      await startNode(state);
      await waitOk();
      const deadline = Date.now() + 20_000;
      for (;;) {
        const role = await withNode(port, (r) => r.call('ROLE') as Promise<unknown[]>);
        // In sync once its master counts it in a WAIT, as a write that waits for replicas would.
        if (role[0] === 'slave' && role[3] === 'connected' && (await withNode(Number(role[2]), (r) => r.wait(1, 100))) >= 1) return;
        if (Date.now() > deadline) throw new Error(`restarted node ${port} did not sync as a replica: ${JSON.stringify(role)}`);
        await sleep(100);
      }
    },
    waitOk,
    stop,
  };
}

/** A free port whose cluster bus port (port + 10000) is free too and below 65536. */
async function freeClusterPort(taken: number[]): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = await getFreePort();
    if (port + 10_000 > 65_535 || taken.includes(port) || taken.some((t) => t + 10_000 === port || port + 10_000 === t)) continue;
    if (await portFree(port + 10_000)) return port;
  }
  throw new Error('found no free port pair for a cluster node');
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
