import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { resolveServiceBin } from '@keylane/cli';
import { CONFIG_VARIABLE_NAMES } from '@keylane/item-service';
import { createClient } from '@keylane/sdk';
import {
  createTestContext,
  getFreePort,
  killAll,
  parseJsonLines,
  startProcess,
  stopProcess,
  waitHttpOk,
  type Proc,
  type TestContext,
} from '@keylane/harness';
import {
  callerEntries,
  cartServiceEntries,
  checkCompose,
  environmentOf,
  itemServiceEntries,
  mapToLocal,
  parseCompose,
  type ComposeFile,
} from './lib/compose.js';
import { imageHasHealthcheck } from './lib/dockerfile-healthcheck.js';
import { readRepoFile } from './lib/repo.js';

/**
 * docker/compose.yaml is the source of the environment: its item-service entries are started
 * here as local processes with exactly the environment the file gives them (hosts, ports,
 * schema and key prefix mapped to this machine), so the file cannot drift from what runs.
 */

const TEXT = readRepoFile('docker/compose.yaml');
const COMPOSE = parseCompose(TEXT);
const CHECK_OPTIONS = { imageHasHealthcheck };

function doctored(change: (doc: ComposeFile) => void): ComposeFile {
  const copy = structuredClone(COMPOSE);
  change(copy);
  return copy;
}

function callerBin(): string {
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('@keylane/example-caller/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    bin: Record<string, string>;
  };
  return resolve(dirname(manifestPath), manifest.bin['keylane-example-caller']!);
}

describe('docker/compose.yaml, read as Compose reads it', () => {
  it('resolves the shared anchors into every item-service entry', () => {
    const items = itemServiceEntries(COMPOSE);
    expect(items.map(([name]) => name)).toEqual(['item-1', 'item-2', 'item-3']);
    for (const [name, service] of items) {
      const { env } = environmentOf(service);
      expect(env['KEYLANE_INSTANCE_ID']).toBe(name);
      expect(env['KEYLANE_STRATEGY']).toBe('serial-guarded');
      expect(service.depends_on).toEqual({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
      });
    }
    expect(callerEntries(COMPOSE).map(([name]) => name)).toEqual(['example-caller']);
  });

  it('gives the cart-service entries the shared environment with their own schema, prefix and lanes', () => {
    const carts = cartServiceEntries(COMPOSE);
    expect(carts.map(([name]) => name)).toEqual(['cart-1', 'cart-2']);
    const items = environmentOf(itemServiceEntries(COMPOSE)[0]![1]).env;
    for (const [name, service] of carts) {
      const { env } = environmentOf(service);
      expect(env).toEqual({ ...items, KEYLANE_INSTANCE_ID: name, KEYLANE_DB_SCHEMA: 'carts', KEYLANE_CACHE_PREFIX: 'kc', KEYLANE_LANES: '4' });
      expect(service['stop_grace_period']).toBe('30s');
    }
  });

  it('sets only variables the item service accepts, every one it needs, with values loadConfig takes', () => {
    expect(checkCompose(COMPOSE, CHECK_OPTIONS)).toEqual([]);
    // Not vacuous: the entries do set KEYLANE_ variables, all of them known.
    const names = Object.keys(environmentOf(itemServiceEntries(COMPOSE)[0]![1]).env);
    expect(names.length).toBeGreaterThan(5);
    expect(names.every((n) => CONFIG_VARIABLE_NAMES.includes(n))).toBe(true);
  });

  it('fails on a variable the service does not accept, added to the shared anchor', () => {
    const text = TEXT.replace(/^( {2}KEYLANE_LOG_LEVEL: .*)$/m, '$1\n  KEYLANE_TYPO: "1"');
    expect(text).not.toBe(TEXT);
    const problems = checkCompose(parseCompose(text), CHECK_OPTIONS);
    expect(problems).toEqual([
      'compose service item-1: sets KEYLANE_TYPO, which the item service does not accept',
      'compose service item-2: sets KEYLANE_TYPO, which the item service does not accept',
      'compose service item-3: sets KEYLANE_TYPO, which the item service does not accept',
      'compose service cart-1: sets KEYLANE_TYPO, which the item service does not accept',
      'compose service cart-2: sets KEYLANE_TYPO, which the item service does not accept',
    ]);
  });

  it.each<[string, (doc: ComposeFile) => void, string]>([
    [
      'a missing instance id',
      (doc) =>
        delete (doc.services['item-2']!.environment as Record<string, unknown>)[
          'KEYLANE_INSTANCE_ID'
        ],
      'compose service item-2: omits KEYLANE_INSTANCE_ID, which a deployment needs',
    ],
    [
      'a duplicate instance id',
      (doc) =>
        ((doc.services['item-3']!.environment as Record<string, unknown>)['KEYLANE_INSTANCE_ID'] =
          'item-1'),
      'compose services item-1, item-3 share KEYLANE_INSTANCE_ID=item-1',
    ],
    [
      'a missing Redis URL (the default is the container itself)',
      (doc) =>
        delete (doc.services['item-1']!.environment as Record<string, unknown>)[
          'KEYLANE_REDIS_URL'
        ],
      'compose service item-1: omits KEYLANE_REDIS_URL',
    ],
    [
      'a value loadConfig refuses',
      (doc) =>
        ((doc.services['item-1']!.environment as Record<string, unknown>)['KEYLANE_LANES'] = '0'),
      'compose service item-1: invalid configuration: KEYLANE_LANES="0" is not allowed',
    ],
    [
      'a database host that is no service of the file',
      (doc) =>
        ((doc.services['item-1']!.environment as Record<string, unknown>)['KEYLANE_DATABASE_URL'] =
          'postgres://keylane:keylane@db:5432/keylane'),
      'KEYLANE_DATABASE_URL names host "db", which is no service of this file',
    ],
    [
      'a cart instance id equal to an item instance id',
      (doc) =>
        ((doc.services['cart-2']!.environment as Record<string, unknown>)['KEYLANE_INSTANCE_ID'] =
          'item-2'),
      'compose services item-2, cart-2 share KEYLANE_INSTANCE_ID=item-2',
    ],
    [
      'a cart stop grace period shorter than drain + shutdown grace',
      (doc) => (doc.services['cart-1']!['stop_grace_period'] = '10s'),
      'compose service cart-1: stop_grace_period "10s" is not above',
    ],
    [
      'a published port other than KEYLANE_PORT',
      (doc) => (doc.services['item-1']!.ports = ['7001:9090']),
      'compose service item-1: publishes container port 9090 but listens on KEYLANE_PORT=8080',
    ],
    [
      'a stop grace period shorter than drain + shutdown grace',
      (doc) => (doc.services['item-1']!['stop_grace_period'] = '10s'),
      'compose service item-1: stop_grace_period "10s" is not above',
    ],
    [
      'not waiting for Postgres',
      (doc) => (doc.services['item-1']!.depends_on = { redis: { condition: 'service_healthy' } }),
      'compose service item-1: KEYLANE_DATABASE_URL names "postgres" but does not wait for it',
    ],
    [
      'a health-gated dependency without a healthcheck',
      (doc) => delete doc.services['redis']!.healthcheck,
      'compose service item-1: waits for "redis" to be healthy, but "redis" has no healthcheck',
    ],
    [
      'a caller that does not know every instance',
      (doc) =>
        ((doc.services['example-caller']!.environment as Record<string, unknown>)[
          'KEYLANE_INSTANCES'
        ] = 'http://item-1:8080,http://item-2:8080'),
      'compose service example-caller: KEYLANE_INSTANCES lacks http://item-3:8080',
    ],
    [
      'a caller variable the caller does not accept',
      (doc) =>
        ((doc.services['example-caller']!.environment as Record<string, unknown>)['KEYLANE_KEYS'] =
          '5'),
      'compose service example-caller: sets KEYLANE_KEYS, which the example caller does not accept',
    ],
  ])('fails on %s', (_what, change, expected) => {
    const problems = checkCompose(doctored(change), CHECK_OPTIONS);
    expect(problems.join('\n')).toContain(expected);
  });
});

describe('docker/compose.yaml, run as local processes', () => {
  let ctx: TestContext;
  const items: Array<{
    name: string;
    proc: Proc;
    origin: string;
    env: Record<string, string>;
    changed: string[];
  }> = [];

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'deploy_compose' });
    const bin = resolveServiceBin();
    for (const [name, service] of itemServiceEntries(COMPOSE)) {
      const port = await getFreePort();
      const { env, changed } = mapToLocal(COMPOSE, environmentOf(service).env, {
        databaseUrl: ctx.databaseUrl,
        redisUrl: ctx.redisUrl,
        schema: ctx.schema,
        prefix: ctx.prefix,
        port,
      });
      items.push({
        name,
        proc: startProcess(bin, env),
        origin: `http://127.0.0.1:${port}`,
        env,
        changed,
      });
    }
    await Promise.all(items.map((i) => waitHttpOk(i.proc, `${i.origin}/healthz/ready`)));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(items.map((i) => stopProcess(i.proc, 30_000)));
    killAll();
    await ctx?.dispose();
  }, 60_000);

  it('changes only addresses, ports, schema and key prefix; passes everything else verbatim', () => {
    for (const item of items) {
      expect(item.changed).toEqual([
        'KEYLANE_CACHE_PREFIX',
        'KEYLANE_DATABASE_URL',
        'KEYLANE_DB_SCHEMA',
        'KEYLANE_PORT',
        'KEYLANE_REDIS_URL',
      ]);
      const original = environmentOf(COMPOSE.services[item.name]!).env;
      expect(Object.keys(item.env).sort()).toEqual(Object.keys(original).sort());
    }
  });

  it('starts every entry ready, under the instance id compose gives it', async () => {
    for (const item of items) {
      const res = await fetch(`${item.origin}/healthz/ready`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        ready: true,
        instanceId: item.name,
        strategy: 'serial-guarded',
      });
    }
  });

  it('serves writes and reads through @keylane/sdk over the three instances', async () => {
    const client = createClient({ instances: items.map((i) => ({ id: i.name, url: i.origin })) });
    try {
      await client.ready();
      expect(client.healthyInstances()).toEqual(['item-1', 'item-2', 'item-3']);
      const owners = new Set<string>();
      for (let key = 1; key <= 30; key += 1) {
        const written = await client.put(key, { key });
        expect(await client.get(key)).toEqual(written);
        owners.add(client.getServiceConnection(key).instanceId);
      }
      expect(owners.size).toBe(3);
    } finally {
      await client.close();
    }
  });

  it('runs the example-caller entry against them with its compose environment', async () => {
    const [, service] = callerEntries(COMPOSE)[0]!;
    const origins = new Map(items.map((i) => [i.name, i.origin]));
    const { env, changed } = mapToLocal(COMPOSE, environmentOf(service).env, {
      databaseUrl: ctx.databaseUrl,
      redisUrl: ctx.redisUrl,
      schema: ctx.schema,
      prefix: ctx.prefix,
      origins,
    });
    expect(changed).toEqual(['KEYLANE_INSTANCES']);
    const caller = startProcess(callerBin(), env);
    const served = (): Array<Record<string, unknown>> =>
      parseJsonLines(caller.lines).filter((l) => l['msg'] === 'served');
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && served().length < 10) await sleep(200);
    expect(await stopProcess(caller)).toEqual({ code: 0, signal: null });
    expect(served().length).toBeGreaterThanOrEqual(10);
    // Static ids are the URLs compose lists; map them back to service names.
    const byOrigin = new Map(items.map((i) => [i.origin, i.name]));
    const servedBy = new Set(served().map((l) => byOrigin.get(l['instance'] as string)));
    expect(servedBy.size).toBeGreaterThan(1);
    expect([...servedBy].every((name) => name !== undefined)).toBe(true);
  }, 40_000);

  it('stops every entry cleanly on SIGTERM within the compose stop_grace_period', async () => {
    const started = Date.now();
    const exits = await Promise.all(items.map((i) => stopProcess(i.proc, 30_000)));
    expect(exits).toEqual(items.map(() => ({ code: 0, signal: null })));
    // KEYLANE_DRAIN_MS (5 s) passes before the listener closes; 30 s is stop_grace_period.
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 45_000);
});
