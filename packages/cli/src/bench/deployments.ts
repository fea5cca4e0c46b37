import { createEngine } from '@keylane/engine';
import { createItems, type Items } from '@keylane/engine/items';
import { deleteScratchKeys } from '@keylane/harness';
import { startFleet } from '../fleet/index.js';
import { createClient } from '@keylane/sdk';
import { Redis } from 'ioredis';
import pg from 'pg';
import { FLEET_SIZE } from './fleet-bench.js';
import { scrapeFleet } from './metrics.js';

/** What one deployment held and did for the same hot-key load. */
export interface DeploymentFigures {
  /** Instances of the fleet, or processes embedding the engine. */
  holders: number;
  lanes: number;
  /** Postgres backends the deployment held after the load, counted in pg_stat_activity by its application_name. */
  pgConnections: number;
  /**
   * DB reads per expiry of the hot key: its cached entry deleted (as a TTL expiry or an
   * outside change does), then `burst` concurrent reads of it from the callers.
   */
  dbReadsPerExpiry: number;
  /** The worst round. */
  maxDbReadsPerExpiry: number;
  rounds: number;
  burst: number;
}

export interface DeploymentsMeasurement {
  /** serial-guarded, FLEET_SIZE instances, every read through the SDK (routed to the key's owner). */
  routed: DeploymentFigures;
  /** serial-guarded engines embedded in `holders` callers on one key prefix, each read by one of them in turn. */
  embedded: DeploymentFigures;
}

export interface DeploymentsContext {
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  prefix: string;
  hotKey: bigint;
  lanes: number;
  /** Processes of the embedded deployment (each engine here stands for one). */
  processes: number;
  rounds: number;
  burst: number;
}

/**
 * The two deployments side by side on one hot key, each as its users would run it: how many
 * DB reads one expiry of the key costs, and how many Postgres connections each holds. The
 * embedded engines share this process, but each has its own lanes, connections and lease
 * attempts, which is all a process boundary changes here (a lease is the only thing they
 * share, through Redis, exactly as separate processes would).
 */
export async function measureDeployments(ctx: DeploymentsContext): Promise<DeploymentsMeasurement> {
  const redis = new Redis(ctx.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const embedded = await measureEmbedded(ctx, redis);
    const routed = await measureRouted(ctx, redis);
    return { routed, embedded };
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

async function measureRouted(ctx: DeploymentsContext, redis: Redis): Promise<DeploymentFigures> {
  const prefix = `${ctx.prefix}-routed`;
  const appName = `${prefix}`.slice(0, 63);
  const fleet = await startFleet({
    count: FLEET_SIZE,
    strategy: 'serial-guarded',
    databaseUrl: withApplicationName(ctx.databaseUrl, appName),
    redisUrl: ctx.redisUrl,
    schema: ctx.schema,
    prefix,
    logLevel: 'warn',
    lanes: ctx.lanes,
    env: { KEYLANE_DRAIN_MS: '0' },
  });
  const client = createClient({ instances: fleet.instances.map((i) => ({ id: i.id, url: i.url })) });
  const urls = fleet.instances.map((i) => i.url);
  try {
    await client.ready();
    const reads = await expiryRounds(ctx, redis, prefix, async () => (await scrapeFleet(urls)).dbReads, () => client.get(ctx.hotKey));
    return { holders: FLEET_SIZE, lanes: ctx.lanes, pgConnections: await countConnections(ctx.databaseUrl, appName), ...reads };
  } finally {
    await client.close();
    await fleet.stop();
    await deleteScratchKeys(ctx.redisUrl, prefix);
  }
}

async function measureEmbedded(ctx: DeploymentsContext, redis: Redis): Promise<DeploymentFigures> {
  const prefix = `${ctx.prefix}-embedded`;
  const appName = `${prefix}`.slice(0, 63);
  const engines = await Promise.all(
    Array.from({ length: ctx.processes }, () =>
      createEngine({
        postgres: { connectionString: ctx.databaseUrl, application_name: appName },
        redis: { url: ctx.redisUrl, keyPrefix: prefix },
        lanes: ctx.lanes,
      }),
    ),
  );
  try {
    const items: Items[] = engines.map((engine) => createItems(engine, { schema: ctx.schema }));
    let next = 0;
    const reads = await expiryRounds(
      ctx,
      redis,
      prefix,
      () => Promise.resolve(engines.reduce((n, e) => n + e.stats().dbReads, 0)),
      // Round robin: every process's callers read the hot key.
      () => items[next++ % items.length]!.read(ctx.hotKey),
    );
    return { holders: ctx.processes, lanes: ctx.lanes, pgConnections: await countConnections(ctx.databaseUrl, appName), ...reads };
  } finally {
    await Promise.all(engines.map((e) => e.close()));
    await deleteScratchKeys(ctx.redisUrl, prefix);
  }
}

async function expiryRounds(
  ctx: DeploymentsContext,
  redis: Redis,
  prefix: string,
  dbReads: () => Promise<number>,
  read: () => Promise<unknown>,
): Promise<Pick<DeploymentFigures, 'dbReadsPerExpiry' | 'maxDbReadsPerExpiry' | 'rounds' | 'burst'>> {
  const valueKey = `{${prefix}:items:${ctx.hotKey}}:v`;
  // A first read fills the cache and warms every connection the reads use.
  await Promise.all(Array.from({ length: ctx.burst }, read));
  const perRound: number[] = [];
  for (let r = 0; r < ctx.rounds; r++) {
    await redis.del(valueKey);
    const before = await dbReads();
    await Promise.all(Array.from({ length: ctx.burst }, read));
    perRound.push((await dbReads()) - before);
  }
  return {
    dbReadsPerExpiry: perRound.reduce((a, b) => a + b, 0) / perRound.length,
    maxDbReadsPerExpiry: Math.max(...perRound),
    rounds: ctx.rounds,
    burst: ctx.burst,
  };
}

async function countConnections(databaseUrl: string, applicationName: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    return rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
}

function withApplicationName(databaseUrl: string, applicationName: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', applicationName);
  return url.toString();
}
