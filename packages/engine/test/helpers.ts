import type { Item, LongIdInput } from '@keylane/protocol';
import type { TestContext } from '@keylane/harness';
import { createEngine, type LabEngineOptions } from '../src/baselines.js';
import type { Engine, EngineHealth, EngineStats, StrategyName } from '../src/index.js';
import { inspect, laneClient } from '../src/testing.js';
import type pg from 'pg';
import { createItems, ensureItemsTable, type Items, type ItemsStats, type WriteOptions } from '../src/items/index.js';

export type Overrides = Omit<Partial<LabEngineOptions>, 'postgres' | 'redis'> & {
  postgres?: Partial<LabEngineOptions['postgres']>;
  redis?: { url?: string; keyPrefix?: string; commandTimeoutMs?: number };
};

/** An engine with the items entity on the suite's schema: what most engine tests exercise. */
export interface ItemsEngine {
  readonly engine: Engine;
  readonly items: Items;
  readonly strategy: StrategyName;
  read(id: LongIdInput): Promise<Item | null>;
  write(id: LongIdInput, value: unknown, options?: WriteOptions): Promise<Item>;
  delete(id: LongIdInput): Promise<boolean>;
  inspect(id: LongIdInput): Promise<{ cached: Item | null | undefined; stored: Item | null }>;
  laneOf(id: LongIdInput): number;
  /** The lane's raw connection (`@keylane/engine/testing`), for fault injection. */
  laneClient(id: LongIdInput): pg.Client;
  stats(): EngineStats & ItemsStats;
  health(): Promise<EngineHealth>;
  close(): Promise<void>;
}

/** The engine's options on the suite's schema and prefix (a suffix keeps engines of one suite apart). */
export function optionsFor(ctx: TestContext, overrides: Overrides = {}, prefixSuffix = ''): LabEngineOptions {
  const { postgres, redis, ...rest } = overrides;
  return {
    postgres: { connectionString: ctx.databaseUrl, ...postgres },
    redis: { url: ctx.redisUrl, keyPrefix: `${ctx.prefix}${prefixSuffix}`, ...redis },
    lanes: 2,
    ...rest,
  };
}

/** An engine plus the items table in the suite's schema. */
export async function engineFor(ctx: TestContext, overrides: Overrides = {}, prefixSuffix = ''): Promise<ItemsEngine> {
  await ensureItemsTable(ctx.pg, ctx.schema);
  const engine = await createEngine(optionsFor(ctx, overrides, prefixSuffix));
  const items = createItems(engine, { schema: ctx.schema });
  return {
    engine,
    items,
    strategy: engine.strategy,
    read: (id) => items.read(id),
    write: (id, value, options) => items.write(id, value, options),
    delete: (id) => items.delete(id),
    inspect: (id) => inspect(items.entity, id),
    laneOf: (id) => engine.laneOf(id),
    laneClient: (id) => laneClient(engine, id),
    stats: () => ({ ...engine.stats(), ...items.stats() }),
    health: () => engine.health(),
    close: () => engine.close(),
  };
}

/** The Redis key of an item's cached value under `prefix`. */
export function itemValueKey(prefix: string, id: bigint | number): string {
  return `{${prefix}:items:${id}}:v`;
}

/** The Redis key of an item's write markers under `prefix`. */
export function itemMarkersKey(prefix: string, id: bigint | number): string {
  return `{${prefix}:items:${id}}:w`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` is true; generous by default because this machine is shared. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(work: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await work;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection, got a value');
}
