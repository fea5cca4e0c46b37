import { describe, expect, it } from '@jest/globals';
import { CallerConfigError, loadCallerConfig } from '../src/config.js';
import { clientOptionsFor } from '../src/main.js';

describe('loadCallerConfig', () => {
  it('reads a static list of origins', () => {
    const config = loadCallerConfig({
      KEYLANE_INSTANCES: 'http://item-1:8080, http://item-2:8080',
    });
    expect(config.discovery).toEqual({
      kind: 'static',
      instances: ['http://item-1:8080', 'http://item-2:8080'],
    });
    expect(config.keys).toBe(5);
    expect(clientOptionsFor(config).instances).toEqual([
      'http://item-1:8080',
      'http://item-2:8080',
    ]);
  });

  it('reads a DNS name and port and turns them into the SDK discovery option', () => {
    const config = loadCallerConfig({
      KEYLANE_DNS_NAME: 'keylane-items.default.svc.cluster.local',
      KEYLANE_DNS_PORT: '8080',
      KEYLANE_DNS_REFRESH_MS: '2000',
    });
    expect(clientOptionsFor(config).instances).toEqual({
      dns: 'keylane-items.default.svc.cluster.local',
      port: 8080,
      refreshMs: 2000,
    });
  });

  it.each([
    [{}, 'KEYLANE_INSTANCES'],
    [{ KEYLANE_INSTANCES: 'http://a:1', KEYLANE_DNS_NAME: 'a' }, 'KEYLANE_INSTANCES'],
    [{ KEYLANE_INSTANCES: 'item-1:8080' }, 'KEYLANE_INSTANCES'],
    [{ KEYLANE_INSTANCES: 'http://a:1/v1' }, 'KEYLANE_INSTANCES'],
    [{ KEYLANE_INSTANCES: 'http://a:1', KEYLANE_DNS_PORT: '80' }, 'KEYLANE_DNS_PORT'],
    [{ KEYLANE_DNS_NAME: 'items' }, 'KEYLANE_DNS_PORT'],
    [{ KEYLANE_DNS_NAME: 'items', KEYLANE_DNS_PORT: '0' }, 'KEYLANE_DNS_PORT'],
    [{ KEYLANE_DNS_NAME: 'bad name', KEYLANE_DNS_PORT: '80' }, 'KEYLANE_DNS_NAME'],
    [{ KEYLANE_INSTANCES: 'http://a:1', KEYLANE_CALLER_KEYS: '1e3' }, 'KEYLANE_CALLER_KEYS'],
  ])('refuses %j naming %s', (env, variable) => {
    let caught: unknown;
    try {
      loadCallerConfig(env);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CallerConfigError);
    expect((caught as CallerConfigError).code).toBe('invalid_config');
    expect((caught as CallerConfigError).variable).toBe(variable);
    expect((caught as Error).message).not.toContain('\n');
  });
});
