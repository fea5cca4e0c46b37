import { describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getFreePort, TEST_DATABASE_URL, TEST_REDIS_URL } from '@keylane/harness';
import { CONFIG_VARIABLES } from '@keylane/item-service';
import {
  checkDependencies,
  DEFAULT_DATABASE_URL,
  DEFAULT_REDIS_URL,
  DependencyUnreachableError,
  redact,
  resolveServiceBin,
} from '../../src/fleet/index.js';

describe('resolveServiceBin', () => {
  it("finds the item service's built bin from this package", () => {
    const bin = resolveServiceBin();
    expect(bin).toBe(
      fileURLToPath(new URL('../../../../services/item-service/dist/bin.js', import.meta.url)),
    );
    expect(existsSync(bin)).toBe(true);
  });
});

describe('DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL', () => {
  it("are the item service's own defaults", () => {
    const serviceDefault = (name: string): string | undefined =>
      CONFIG_VARIABLES.find((v) => v.name === name)?.default;
    expect({ db: DEFAULT_DATABASE_URL, redis: DEFAULT_REDIS_URL }).toEqual({
      db: serviceDefault('KEYLANE_DATABASE_URL'),
      redis: serviceDefault('KEYLANE_REDIS_URL'),
    });
  });
});

describe('checkDependencies', () => {
  it('passes when Postgres and Redis answer', async () => {
    await expect(checkDependencies(TEST_DATABASE_URL, TEST_REDIS_URL)).resolves.toBeUndefined();
  });

  it('names the dependency, the address and the flag when one does not answer', async () => {
    const port = await getFreePort();
    const err = await checkDependencies(TEST_DATABASE_URL, `redis://127.0.0.1:${port}`).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DependencyUnreachableError);
    expect(err).toMatchObject({ code: 'dependency_unreachable', dependency: 'redis' });
    expect((err as Error).message).toMatch(
      new RegExp(`^Redis is not reachable at redis://127\\.0\\.0\\.1:${port} .*--redis-url$`),
    );
  });

  it('keeps passwords out of its messages', () => {
    expect(redact('postgres://app:s3cret@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(redact('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
