import type { TestContext } from '@keylane/test-kit';
import { createEngine, type Engine, type EngineOptions } from '../src/index.js';

export type Overrides = Omit<Partial<EngineOptions>, 'postgres' | 'redis'> & {
  postgres?: Partial<EngineOptions['postgres']>;
  redis?: Partial<EngineOptions['redis']>;
};

/** An engine on the suite's schema and prefix (a suffix keeps engines of one suite apart). */
export function engineFor(ctx: TestContext, overrides: Overrides = {}, prefixSuffix = ''): Promise<Engine> {
  const { postgres, redis, ...rest } = overrides;
  return createEngine({
    postgres: { connectionString: ctx.databaseUrl, schema: ctx.schema, ...postgres },
    redis: { url: ctx.redisUrl, keyPrefix: `${ctx.prefix}${prefixSuffix}`, ...redis },
    lanes: 2,
    ...rest,
  });
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
