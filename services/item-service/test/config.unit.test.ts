import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from '@jest/globals';
import { ENGINE_OPTIONS } from '@keylane/engine';
import { STRATEGY_NAMES } from '@keylane/engine/baselines';
import {
  CONFIG_VARIABLE_NAMES,
  CONFIG_VARIABLES,
  ConfigError,
  loadConfig,
  toEnvironment,
  unknownVariables,
} from '../src/config.js';
import { engineOptionsFrom } from '../src/engine-options.js';

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment, frozen', () => {
    const config = loadConfig({});
    expect(config).toEqual({
      port: 8080,
      host: '0.0.0.0',
      instanceId: hostname(),
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      databaseReplicaUrls: [],
      dbSchema: 'keylane',
      dbMigrate: true,
      statementTimeoutMs: 30_000,
      redisUrl: 'redis://127.0.0.1:6379',
      cachePrefix: 'kl',
      lanes: 16,
      strategy: 'serial-guarded',
      cacheTtlMs: 300_000,
      leaseTtlMs: 5_000,
      markerTtlMs: 10_000,
      maxQueuePerLane: 10_000,
      maxQueueWaitMs: 500,
      groupCommit: true,
      doubleDeleteDelayMs: 100,
      lockTtlMs: 5_000,
      maxBodyBytes: 1_048_576,
      maxBytesInFlight: 67_108_864,
      clockSkewMs: 100,
      readyGraceMs: 3_000,
      drainMs: 5_000,
      shutdownGraceMs: 10_000,
      logLevel: 'info',
      allowBaselines: false,
      allowChaos: false,
      chaosFillDelayMs: 0,
      chaosWriteDelayMs: 0,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ KEYLANE_LANES: '' }).lanes).toBe(16);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      KEYLANE_PORT: '7001',
      KEYLANE_HOST: '127.0.0.1',
      KEYLANE_INSTANCE_ID: 'item-1',
      KEYLANE_DATABASE_URL: 'postgresql://u:p@db:5432/x',
      KEYLANE_DB_SCHEMA: 'k2',
      KEYLANE_REDIS_URL: 'rediss://cache:6380',
      KEYLANE_CACHE_PREFIX: 'app:items',
      KEYLANE_LANES: '4',
      KEYLANE_STRATEGY: 'double-delete',
      KEYLANE_CACHE_TTL_MS: '1000',
      KEYLANE_LEASE_TTL_MS: '200',
      KEYLANE_MARKER_TTL_MS: '3000',
      KEYLANE_STATEMENT_TIMEOUT_MS: '0',
      KEYLANE_MAX_QUEUE_PER_LANE: '5',
      KEYLANE_DOUBLE_DELETE_DELAY_MS: '20',
      KEYLANE_LOCK_TTL_MS: '700',
      KEYLANE_MAX_BODY_BYTES: '4096',
      KEYLANE_DRAIN_MS: '0',
      KEYLANE_SHUTDOWN_GRACE_MS: '2500',
      KEYLANE_LOG_LEVEL: 'debug',
      KEYLANE_ALLOW_BASELINES: '1',
      KEYLANE_ALLOW_CHAOS: '1',
      KEYLANE_CHAOS_FILL_DELAY_MS: '30',
      KEYLANE_CHAOS_WRITE_DELAY_MS: '40',
    });
    expect(config).toMatchObject({
      port: 7001,
      lanes: 4,
      strategy: 'double-delete',
      allowChaos: true,
      chaosWriteDelayMs: 40,
    });
    expect(config.dbSchema).toBe('k2');
    expect(engineOptionsFrom(config).lab).toBe(true);
    expect(engineOptionsFrom(config).options).toEqual({
      postgres: {
        connectionString: 'postgresql://u:p@db:5432/x',
        statementTimeoutMs: 0,
      },
      redis: { url: 'rediss://cache:6380', keyPrefix: 'app:items' },
      lanes: 4,
      strategy: 'double-delete',
      cacheTtlMs: 1000,
      leaseTtlMs: 200,
      markerTtlMs: 3000,
      maxQueuePerLane: 5,
      maxQueueWaitMs: 500,
      doubleDeleteDelayMs: 20,
      lockTtlMs: 700,
      chaos: { fillDelayMs: 30, writeDelayMs: 40 },
    });
  });

  it('accepts every engine strategy with KEYLANE_ALLOW_BASELINES=1, and only serial-guarded without it', () => {
    for (const strategy of STRATEGY_NAMES)
      expect(loadConfig({ KEYLANE_STRATEGY: strategy, KEYLANE_ALLOW_BASELINES: '1' }).strategy).toBe(strategy);
    expect(loadConfig({ KEYLANE_STRATEGY: 'serial-guarded' }).strategy).toBe('serial-guarded');
    for (const strategy of STRATEGY_NAMES.filter((s) => s !== 'serial-guarded')) {
      expect(() => loadConfig({ KEYLANE_STRATEGY: strategy })).toThrow(
        `KEYLANE_STRATEGY="${strategy}" is not allowed; every strategy but serial-guarded turns the guard off and is refused unless KEYLANE_ALLOW_BASELINES=1`,
      );
    }
    // The production engine unless a baseline or chaos was asked for.
    expect(engineOptionsFrom(loadConfig({})).lab).toBe(false);
  });

  it.each([
    ['KEYLANE_PORT', '65536', 'from 0 to 65535'],
    ['KEYLANE_PORT', '80a', 'integer'],
    ['KEYLANE_PORT', ' 80', 'integer'],
    ['KEYLANE_PORT', '1e3', 'integer'],
    ['KEYLANE_PORT', '-1', 'integer'],
    ['KEYLANE_HOST', 'my host', 'host name'],
    ['KEYLANE_INSTANCE_ID', 'a/b', '[A-Za-z0-9._:-]'],
    ['KEYLANE_DATABASE_URL', 'mysql://db/x', 'postgres://'],
    ['KEYLANE_DATABASE_URL', 'not a url', 'postgres://'],
    ['KEYLANE_DB_SCHEMA', 'Items; DROP', 'identifier'],
    ['KEYLANE_REDIS_URL', 'http://cache', 'redis://'],
    ['KEYLANE_CACHE_PREFIX', 'a{b}', 'braces'],
    ['KEYLANE_LANES', '0', 'from 1 to 1024'],
    ['KEYLANE_LANES', '1025', 'from 1 to 1024'],
    ['KEYLANE_STRATEGY', 'fastest', 'serial-guarded'],
    ['KEYLANE_CACHE_TTL_MS', '0', 'integer'],
    ['KEYLANE_LEASE_TTL_MS', '5', 'from 10'],
    ['KEYLANE_MARKER_TTL_MS', '99', 'from 100'],
    ['KEYLANE_MAX_QUEUE_PER_LANE', '0', 'from 1'],
    ['KEYLANE_DOUBLE_DELETE_DELAY_MS', '60001', 'to 60000'],
    ['KEYLANE_LOCK_TTL_MS', '1.5', 'integer'],
    ['KEYLANE_MAX_BODY_BYTES', '10', 'from 64'],
    ['KEYLANE_DRAIN_MS', 'five', 'integer'],
    ['KEYLANE_SHUTDOWN_GRACE_MS', '600001', 'to 600000'],
    ['KEYLANE_LOG_LEVEL', 'verbose', 'info'],
    ['KEYLANE_ALLOW_CHAOS', 'yes', '0 or 1'],
    ['KEYLANE_CHAOS_FILL_DELAY_MS', '-5', 'integer'],
  ])(
    '%s=%j is refused with one line naming variable, value and what is allowed',
    (variable, value, allowed) => {
      let error: unknown;
      try {
        loadConfig({ [variable]: value });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const configError = error as ConfigError;
      expect(configError.code).toBe('invalid_config');
      expect(configError.variable).toBe(variable);
      expect(configError.message).toContain(`${variable}=${JSON.stringify(value)}`);
      expect(configError.message).toContain(allowed);
      expect(configError.message).not.toContain('\n');
    },
  );

  it('refuses chaos delays unless KEYLANE_ALLOW_CHAOS=1', () => {
    expect(() => loadConfig({ KEYLANE_CHAOS_WRITE_DELAY_MS: '50' })).toThrow(
      'KEYLANE_CHAOS_WRITE_DELAY_MS="50" is not allowed; chaos delays are refused unless KEYLANE_ALLOW_CHAOS=1',
    );
    expect(() =>
      loadConfig({ KEYLANE_CHAOS_FILL_DELAY_MS: '5', KEYLANE_ALLOW_CHAOS: '0' }),
    ).toThrow(ConfigError);
    expect(loadConfig({ KEYLANE_CHAOS_FILL_DELAY_MS: '0' }).chaosFillDelayMs).toBe(0);
    expect('chaos' in engineOptionsFrom(loadConfig({})).options).toBe(false);
  });

  it('reads replica URLs as a comma-separated list into postgres.replicas, refusing a bad one and masking its password', () => {
    const config = loadConfig({ KEYLANE_DATABASE_REPLICA_URLS: 'postgres://r1:5432/x,postgresql://r2/x' });
    expect(config.databaseReplicaUrls).toEqual(['postgres://r1:5432/x', 'postgresql://r2/x']);
    expect(engineOptionsFrom(config).options.postgres.replicas).toEqual([
      { connectionString: 'postgres://r1:5432/x' },
      { connectionString: 'postgresql://r2/x' },
    ]);
    expect(engineOptionsFrom(loadConfig({})).options.postgres).not.toHaveProperty('replicas');
    let message = '';
    try {
      loadConfig({ KEYLANE_DATABASE_REPLICA_URLS: 'postgres://u:hunter2@r1/x,,mysql://r2' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('KEYLANE_DATABASE_REPLICA_URLS=');
    expect(message).toContain('comma-separated URLs');
    expect(message).not.toContain('hunter2');
  });

  it('keeps a refused value on one line and masks URL passwords', () => {
    expect(() => loadConfig({ KEYLANE_INSTANCE_ID: 'a\nb' })).toThrow(
      'KEYLANE_INSTANCE_ID="a\\nb"',
    );
    let message = '';
    try {
      loadConfig({ KEYLANE_DATABASE_URL: 'mysql://user:hunter2@db/x' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('KEYLANE_DATABASE_URL=');
    expect(message).not.toContain('hunter2');
  });
});

describe('toEnvironment, the inverse of loadConfig', () => {
  it('writes back every setting, defaults or not, so that loadConfig reads the same config', () => {
    const defaults = loadConfig({});
    expect(loadConfig(toEnvironment(defaults))).toEqual(defaults);
    const changed = loadConfig({
      KEYLANE_INSTANCE_ID: 'item-7',
      KEYLANE_DATABASE_REPLICA_URLS: 'postgres://r1/x,postgresql://r2:5433/x',
      KEYLANE_DB_MIGRATE: '0',
      KEYLANE_STRATEGY: 'locked',
      KEYLANE_ALLOW_BASELINES: '1',
      KEYLANE_GROUP_COMMIT: '0',
      KEYLANE_ALLOW_CHAOS: '1',
      KEYLANE_CHAOS_WRITE_DELAY_MS: '10',
    });
    const env = toEnvironment(changed);
    expect(Object.keys(env)).toEqual(CONFIG_VARIABLE_NAMES);
    expect(env).toMatchObject({
      KEYLANE_DATABASE_REPLICA_URLS: 'postgres://r1/x,postgresql://r2:5433/x',
      KEYLANE_DB_MIGRATE: '0',
      KEYLANE_GROUP_COMMIT: '0',
      KEYLANE_CHAOS_WRITE_DELAY_MS: '10',
    });
    expect(loadConfig(env)).toEqual(changed);
  });

  it('leaves out what it is not given: the instance takes its defaults there', () => {
    expect(toEnvironment({ lanes: 2, groupCommit: false, logLevel: 'warn' })).toEqual({
      KEYLANE_LANES: '2',
      KEYLANE_GROUP_COMMIT: '0',
      KEYLANE_LOG_LEVEL: 'warn',
    });
  });

  it('takes the default and range of each engine option from the engine (maxQueueWaitMs: the service sets 500)', () => {
    const byKey = new Map(CONFIG_VARIABLES.map((v) => [v.key, v]));
    for (const [key, option] of [
      ['lanes', ENGINE_OPTIONS.lanes],
      ['cacheTtlMs', ENGINE_OPTIONS.cacheTtlMs],
      ['statementTimeoutMs', ENGINE_OPTIONS.statementTimeoutMs],
      ['chaosFillDelayMs', ENGINE_OPTIONS.chaosFillDelayMs],
    ] as const) {
      expect([key, byKey.get(key)?.default, byKey.get(key)?.allowed]).toEqual([
        key,
        String(option.default),
        `expected an integer from ${option.min} to ${option.max}`,
      ]);
    }
    expect(byKey.get('maxQueueWaitMs')?.allowed).toBe(
      `expected an integer from ${ENGINE_OPTIONS.maxQueueWaitMs.min} to ${ENGINE_OPTIONS.maxQueueWaitMs.max}`,
    );
  });
});

describe('the variable list', () => {
  it('names each variable once, all KEYLANE_*', () => {
    expect(new Set(CONFIG_VARIABLE_NAMES).size).toBe(CONFIG_VARIABLE_NAMES.length);
    expect(CONFIG_VARIABLE_NAMES.every((n) => /^KEYLANE_[A-Z_]+$/.test(n))).toBe(true);
    expect(CONFIG_VARIABLES.map((v) => v.name)).toEqual(CONFIG_VARIABLE_NAMES);
  });

  it('matches the configuration table in README.md, row by row', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    // Rows of the table whose first cell is a variable (Prettier pads the cells).
    const rows = new Map(
      readme
        .split('\n')
        .map((line) => line.split('|').map((cell) => cell.trim()))
        .filter((cells) => /^`KEYLANE_[A-Z_]+`$/.test(cells[1] ?? ''))
        .map((cells) => [cells[1]!.slice(1, -1), cells[2]]),
    );
    expect([...rows.keys()]).toEqual(CONFIG_VARIABLE_NAMES);
    for (const variable of CONFIG_VARIABLES) {
      expect([variable.name, rows.get(variable.name)]).toEqual([
        variable.name,
        `\`${variable.default}\``,
      ]);
    }
  });

  it('spots unknown KEYLANE_ variables (typos), leaving the harness ones alone', () => {
    expect(
      unknownVariables({
        KEYLANE_LANE: '4',
        KEYLANE_PORT: '1',
        KEYLANE_TEST_DATABASE_URL: 'x',
        PATH: '/bin',
      }),
    ).toEqual(['KEYLANE_LANE']);
  });
});
