import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InvalidKeyError, KeylaneError, VersionConflictError } from '@keylane/protocol';
import { createTestContext, type TestContext } from '@keylane/harness';
import { createEngine as createLabEngine } from '../src/baselines.js';
import { createEngine, InvalidOptionsError, type EngineOptions } from '../src/index.js';
import { engineFor, rejection, type ItemsEngine } from './helpers.js';

describe('options', () => {
  const base: EngineOptions = {
    postgres: { connectionString: 'postgres://postgres@127.0.0.1:5432/test' },
    redis: { url: 'redis://127.0.0.1:6379' },
  };
  const cases: [string, unknown][] = [
    ['lanes', { lanes: 0 }],
    ['lanes', { lanes: 2.5 }],
    ['strategy', { strategy: 'write-behind' }],
    ['cacheTtlMs', { cacheTtlMs: -1 }],
    ['leaseTtlMs', { leaseTtlMs: 'soon' }],
    ['markerTtlMs', { markerTtlMs: 5 }],
    ['maxQueuePerLane', { maxQueuePerLane: 0 }],
    ['doubleDeleteDelayMs', { doubleDeleteDelayMs: Number.NaN }],
    ['lockTtlMs', { lockTtlMs: 1 }],
    ['chaos.fillDelayMs', { chaos: { fillDelayMs: -5 } }],
    ['chaos.writeDelayMs', { chaos: { writeDelayMs: '1' } }],
    ['postgres', { postgres: undefined }],
    ['postgres.connectionString', { postgres: { connectionString: '' } }],
    ['postgres.schema', { postgres: { connectionString: 'postgres://x', schema: 'keylane' } }],
    ['postgres.statement_timeout', { postgres: { connectionString: 'postgres://x', statement_timeout: 5 } }],
    ['postgres.statementTimeoutMs', { postgres: { connectionString: 'postgres://x', statementTimeoutMs: -1 } }],
    ['chaos.commitDelayMs', { chaos: { commitDelayMs: 1.5 } }],
    ['chaos.clientSideFence', { chaos: { clientSideFence: 'yes' } }],
    ['redis', { redis: { url: 'redis://x', client: {} } }],
    ['redis.client', { redis: { client: { not: 'a client' } } }],
    ['redis', { redis: null }],
    ['redis.url', { redis: { url: 'http://127.0.0.1:6379' } }],
    ['redis.keyPrefix', { redis: { url: 'redis://x', keyPrefix: 'a{b}' } }],
    ['redis.commandTimeoutMs', { redis: { url: 'redis://x', commandTimeoutMs: 0 } }],
    ['redis.markerReplicas', { redis: { url: 'redis://x', markerReplicas: -1 } }],
    ['redis.markerReplicas', { redis: { url: 'redis://x', markerReplicas: 1.5 } }],
    ['redis.markerReplicationTimeoutMs', { redis: { url: 'redis://x', markerReplicas: 1, markerReplicationTimeoutMs: 0 } }],
    ['redis.markerReplicationTimeoutMs', { redis: { url: 'redis://x', markerReplicationTimeoutMs: 50 } }],
    ['postgres.replicas', { postgres: { connectionString: 'postgres://x', replicas: { connectionString: 'postgres://r' } } }],
    ['postgres.replicas[1]', { postgres: { connectionString: 'postgres://x', replicas: [{ connectionString: 'postgres://r' }, 'postgres://r2'] } }],
    ['postgres.replicas[0].connectionString', { postgres: { connectionString: 'postgres://x', replicas: [{ connectionString: '' }] } }],
    ['postgres.replicas[0].query_timeout', { postgres: { connectionString: 'postgres://x', replicas: [{ query_timeout: 5 }] } }],
    ['postgres.replicas', { strategy: 'cache-aside', postgres: { connectionString: 'postgres://x', replicas: [{ connectionString: 'postgres://r' }] } }],
    ['chaos.replicaReads', { chaos: { replicaReads: 'sometimes' } }],
  ];

  it.each(cases)('rejects a bad %s, naming it', async (option, patch) => {
    const err = await rejection(createLabEngine({ ...base, ...(patch as Partial<EngineOptions>) }));
    expect(err).toBeInstanceOf(InvalidOptionsError);
    expect(err).toBeInstanceOf(KeylaneError);
    expect(err.code).toBe('invalid_options');
    expect((err as InvalidOptionsError).option).toBe(option);
    expect(err.message).toContain(option);
  });

  it.each([['strategy', { strategy: 'serial' }], ['chaos', { chaos: { fillDelayMs: 1 } }], ['lockTtlMs', { lockTtlMs: 100 }], ['doubleDeleteDelayMs', { doubleDeleteDelayMs: 1 }]])(
    "the production entry refuses %s: baselines and chaos live in '@keylane/engine/baselines'",
    async (option, patch) => {
      const err = await rejection(createEngine({ ...base, ...(patch as Partial<EngineOptions>) }));
      expect(err).toBeInstanceOf(InvalidOptionsError);
      expect((err as InvalidOptionsError).option).toBe(option);
      expect(err.message).toMatch(/@keylane\/engine\/baselines/);
    },
  );

  it('fails with unavailable when Postgres is unreachable at start', async () => {
    const err = await rejection(
      createEngine({ ...base, postgres: { connectionString: 'postgres://postgres@127.0.0.1:1/test' } }),
    );
    expect(err.code).toBe('unavailable');
  });
});

describe('keys, versions and values', () => {
  let ctx: TestContext;
  let e: ItemsEngine;
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_values' });
    e = await engineFor(ctx, {});
  });
  afterAll(async () => {
    await e.close();
    await ctx.dispose();
  });

  it('round-trips the 64-bit extremes through the DB and the cache', async () => {
    for (const id of [2n ** 63n - 1n, -(2n ** 63n), 0n, -1n]) {
      const written = await e.write(id, { id: id.toString() });
      expect(written.id).toBe(id.toString());
      expect(await e.read(id)).toEqual(written); // miss: from the DB
      expect(await e.read(id.toString())).toEqual(written); // hit: from the cache
      expect((await e.inspect(id)).cached).toEqual(written);
    }
    expect(e.stats().hits).toBeGreaterThanOrEqual(4);
  });

  it('rejects ids outside the signed 64-bit range or in a non-canonical form', async () => {
    await expect(e.read(2n ** 63n)).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(e.write('007', 1)).rejects.toMatchObject({ code: 'invalid_id' });
    expect(() => e.laneOf(-(2n ** 63n) - 1n)).toThrow(InvalidKeyError);
  });

  it('applies ifVersion: 0 means must not exist, n means must be at n', async () => {
    const created = await e.write(500n, 'a', { ifVersion: 0 });
    expect(created.version).toBe(1);
    const again = await rejection(e.write(500n, 'b', { ifVersion: 0 }));
    expect(again).toBeInstanceOf(VersionConflictError);
    expect(again).toMatchObject({ code: 'version_conflict', expectedVersion: 0, actualVersion: 1 });
    expect(await rejection(e.write(500n, 'b', { ifVersion: 7 }))).toMatchObject({ actualVersion: 1 });
    expect(await rejection(e.write(501n, 'b', { ifVersion: 1 }))).toMatchObject({ actualVersion: null });
    expect(await e.write(500n, 'c', { ifVersion: 1 })).toMatchObject({ value: 'c', version: 2 });
    expect(e.stats().versionConflicts).toBe(3);
    expect((await e.inspect(500n)).stored).toMatchObject({ value: 'c', version: 2 });
  });

  it('stores a JSON null value, distinct from absence', async () => {
    const written = await e.write(504n, null);
    expect(written).toEqual({ id: '504', value: null, version: 1 });
    expect(await e.read(504n)).toEqual(written);
    expect(await e.read(504n)).toEqual(written);
    expect((await e.inspect(504n)).cached).toEqual(written);
  });

  it('rejects values JSON cannot carry and bad ifVersion', async () => {
    await expect(e.write(502n, undefined)).rejects.toMatchObject({ code: 'invalid_value' });
    await expect(e.write(502n, 1n)).rejects.toMatchObject({ code: 'invalid_value' });
    await expect(e.write(502n, 1, { ifVersion: -1 })).rejects.toMatchObject({ code: 'invalid_value' });
    expect((await e.inspect(502n)).stored).toBeNull();
  });

  it('refuses U+0000 in strings and keys (jsonb cannot store it) before touching the DB, and only that', async () => {
    const before = e.stats().dbErrors;
    for (const bad of ['a\u0000b', { ['k\u0000']: 1 }, [['\u0000']]]) {
      await expect(e.write(505n, bad)).rejects.toMatchObject({ code: 'invalid_value', message: /U\+0000/ });
    }
    expect(e.stats().dbErrors).toBe(before);
    expect((await e.inspect(505n)).stored).toBeNull();
    // A backslash followed by the text "u0000" is ordinary text, and so is an escaped U+0001.
    for (const ok of ['\\u0000', '\\\\u0000', 'x\u0001y']) {
      expect((await e.write(505n, ok)).value).toBe(ok);
    }
  });

  it('deletes: true when a row existed, false otherwise', async () => {
    await e.write(503n, 'x');
    expect(await e.delete(503n)).toBe(true);
    expect(await e.delete(503n)).toBe(false);
    expect(await e.read(503n)).toBeNull();
  });

  it('reports health', async () => {
    expect(await e.health()).toEqual({ postgres: true, redis: true, problems: [] });
  });
});
