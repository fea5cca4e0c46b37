import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_CLIENT_OPTIONS,
  DEFAULT_DNS_DISCOVERY_OPTIONS,
  DEFAULT_HEALTH_CHECK_OPTIONS,
  InvalidOptionsError,
  createClient,
  createRouter,
  type ClientOptions,
} from '../src/index.js';
import { resolveOptions } from '../src/core/resolve-options.js';

const URL_A = 'http://127.0.0.1:7001';

describe('createClient options', () => {
  it('fills every default from the DEFAULT_* objects', () => {
    const resolved = resolveOptions({
      instances: [URL_A, { id: 'item-2', url: 'http://127.0.0.1:7002/' }],
    });
    expect(resolved).toEqual({
      instances: [
        { id: URL_A, url: URL_A },
        { id: 'item-2', url: 'http://127.0.0.1:7002' },
      ],
      discovery: null,
      metrics: null,
      routing: DEFAULT_CLIENT_OPTIONS.routing,
      healthCheck: DEFAULT_HEALTH_CHECK_OPTIONS,
      connectionsPerInstance: DEFAULT_CLIENT_OPTIONS.connectionsPerInstance,
      requestTimeoutMs: DEFAULT_CLIENT_OPTIONS.requestTimeoutMs,
      readyTimeoutMs: DEFAULT_CLIENT_OPTIONS.readyTimeoutMs,
    });
    expect(DEFAULT_HEALTH_CHECK_OPTIONS).toEqual({
      path: '/healthz/ready',
      intervalMs: 1000,
      timeoutMs: 500,
      unhealthyThreshold: 2,
      requestFailureThreshold: 5,
      healthyThreshold: 2,
    });
  });

  const bad: Array<[string, unknown]> = [
    ['options', null],
    ['instances', { instances: [] }],
    ['instances', { instances: 'http://x' }],
    ['instances[0]', { instances: ['ftp://127.0.0.1:1'] }],
    ['instances[0]', { instances: ['not a url'] }],
    ['instances[0]', { instances: ['http://127.0.0.1:7001/base'] }],
    ['instances[1]', { instances: [URL_A, URL_A] }],
    ['instances[0].id', { instances: [{ id: '', url: URL_A }] }],
    ['instances[0].url', { instances: [{ id: 'a', url: 7001 }] }],
    ['instances[0].port', { instances: [{ id: 'a', url: URL_A, port: 1 }] }],
    ['instances[0]', { instances: [42] }],
    ['routing', { instances: [URL_A], routing: 'random' }],
    ['healthCheck', { instances: [URL_A], healthCheck: 5 }],
    ['healthCheck.path', { instances: [URL_A], healthCheck: { path: 'healthz' } }],
    ['healthCheck.intervalMs', { instances: [URL_A], healthCheck: { intervalMs: 0 } }],
    ['healthCheck.timeoutMs', { instances: [URL_A], healthCheck: { timeoutMs: 1.5 } }],
    [
      'healthCheck.unhealthyThreshold',
      { instances: [URL_A], healthCheck: { unhealthyThreshold: -1 } },
    ],
    [
      'healthCheck.healthyThreshold',
      { instances: [URL_A], healthCheck: { healthyThreshold: '2' } },
    ],
    ['healthCheck.interval', { instances: [URL_A], healthCheck: { interval: 5 } }],
    ['connectionsPerInstance', { instances: [URL_A], connectionsPerInstance: 0 }],
    ['requestTimeoutMs', { instances: [URL_A], requestTimeoutMs: Number.NaN }],
    ['readyTimeoutMs', { instances: [URL_A], readyTimeoutMs: 2 ** 31 }],
    ['requestTimeout', { instances: [URL_A], requestTimeout: 5 }],
    ['instances.dns', { instances: { dns: '', port: 80 } }],
    ['instances.dns', { instances: { dns: 'http://items', port: 80 } }],
    ['instances.dns', { instances: { dns: 'items..local', port: 80 } }],
    ['instances.dns', { instances: { dns: 42, port: 80 } }],
    ['instances.port', { instances: { dns: 'items' } }],
    ['instances.port', { instances: { dns: 'items', port: 0 } }],
    ['instances.port', { instances: { dns: 'items', port: 65_536 } }],
    ['instances.refreshMs', { instances: { dns: 'items', port: 80, refreshMs: 99 } }],
    ['instances.family', { instances: { dns: 'items', port: 80, family: 5 } }],
    ['instances.servers', { instances: { dns: 'items', port: 80, servers: [] } }],
    ['instances.servers', { instances: { dns: 'items', port: 80, servers: '10.96.0.10' } }],
    [
      'instances.servers[1]',
      { instances: { dns: 'items', port: 80, servers: ['10.96.0.10', 'dns.local'] } },
    ],
    ['instances.servers[0]', { instances: { dns: 'items', port: 80, servers: ['127.0.0.1:0'] } }],
    ['instances.servers[0]', { instances: { dns: 'items', port: 80, servers: ['::1:53:x'] } }],
    ['instances.ttl', { instances: { dns: 'items', port: 80, ttl: 5 } }],
  ];

  it.each(bad)('rejects a bad %s, naming it', (option, options) => {
    let error: unknown;
    try {
      createClient(options as ClientOptions);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error).toMatchObject({ code: 'invalid_options', option });
    expect((error as Error).message).toContain(`invalid option ${option}: `);
  });

  it('explains what it expected and what it got', () => {
    expect(() => createClient({ instances: [URL_A], healthCheck: { intervalMs: -5 } })).toThrow(
      'invalid option healthCheck.intervalMs: expected an integer in [1, 2147483647], got -5',
    );
    expect(() => createClient({ instances: [URL_A], routing: 'hash' as never })).toThrow(
      `invalid option routing: expected 'modulo' or 'consistent', got "hash"`,
    );
  });

  it('takes a DNS name instead of a list, with defaults from DEFAULT_DNS_DISCOVERY_OPTIONS', () => {
    expect(DEFAULT_DNS_DISCOVERY_OPTIONS).toEqual({ refreshMs: 5000, family: 0 });
    expect(
      resolveOptions({
        instances: { dns: 'keylane-items.default.svc.cluster.local.', port: 8080 },
      }),
    ).toMatchObject({
      instances: [],
      discovery: {
        dns: 'keylane-items.default.svc.cluster.local.',
        port: 8080,
        refreshMs: 5000,
        family: 0,
        servers: null,
      },
    });
    const servers = ['10.96.0.10', '127.0.0.1:5353', '::1', '[::1]:53'];
    expect(
      resolveOptions({ instances: { dns: 'items', port: 80, refreshMs: 100, family: 6, servers } })
        .discovery,
    ).toEqual({
      dns: 'items',
      port: 80,
      refreshMs: 100,
      family: 6,
      servers,
    });
    expect(() => createClient({ instances: { dns: 'items', port: 80, refreshMs: 50 } })).toThrow(
      'invalid option instances.refreshMs: expected an integer in [100, 2147483647], got 50',
    );
    expect(() => createClient({ instances: { dns: 'items' } as never })).toThrow(
      'invalid option instances.port: required with instances.dns: DNS A/AAAA records carry no port',
    );
  });

  it('createRouter checks its strategy too', () => {
    expect(() => createRouter('random' as never)).toThrow(InvalidOptionsError);
    expect(createRouter().strategy).toBe('modulo');
  });
});
