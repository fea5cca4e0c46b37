import { isIP } from 'node:net';
import { InvalidOptionsError } from './errors.js';
import type { RoutingStrategy } from '../routing/router.js';
import {
  DEFAULT_CLIENT_OPTIONS,
  DEFAULT_DNS_DISCOVERY_OPTIONS,
  DEFAULT_HEALTH_CHECK_OPTIONS,
  INTEGER_OPTIONS,
  type ClientMetrics,
  type ClientOptions,
  type DnsDiscoveryOptions,
  type IntegerOption,
  type ResolvedDnsDiscovery,
  type ResolvedInstance,
  type ResolvedOptions,
} from './options.js';

// Holds a caller's options to the surface in options.ts, one option at a time, with errors
// that name the option by its path; fills in the defaults. Nothing here states a default or
// a range of its own.

// The keys each options object takes, written as records of its interface's keys so the
// compiler says when an option is added to the surface and not here.
const CLIENT_KEYS = keysOf<ClientOptions>({
  metrics: true,
  instances: true,
  routing: true,
  healthCheck: true,
  connectionsPerInstance: true,
  requestTimeoutMs: true,
  readyTimeoutMs: true,
});
const HEALTH_KEYS = new Set<string>(Object.keys(DEFAULT_HEALTH_CHECK_OPTIONS));
const ROUTING_STRATEGIES: readonly string[] = ['modulo', 'consistent'];

/** Checks every option one by one and fills in defaults; throws {@link InvalidOptionsError}. */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (!isPlainObject(options)) {
    throw new InvalidOptionsError('options', `expected an object, got ${typeName(options)}`);
  }
  rejectUnknownKeys(options, CLIENT_KEYS, '');
  const discovery = isPlainObject(options.instances) ? resolveDiscovery(options.instances) : null;
  const instances = discovery === null ? resolveInstances(options.instances) : Object.freeze([]);

  const routing = options.routing ?? DEFAULT_CLIENT_OPTIONS.routing;
  if (typeof routing !== 'string' || !ROUTING_STRATEGIES.includes(routing)) {
    throw new InvalidOptionsError(
      'routing',
      `expected 'modulo' or 'consistent', got ${show(routing)}`,
    );
  }

  const health = options.healthCheck ?? {};
  if (!isPlainObject(health)) {
    throw new InvalidOptionsError('healthCheck', `expected an object, got ${typeName(health)}`);
  }
  rejectUnknownKeys(health, HEALTH_KEYS, 'healthCheck.');
  const path = health.path ?? DEFAULT_HEALTH_CHECK_OPTIONS.path;
  if (typeof path !== 'string' || !path.startsWith('/') || /[\s?#]/.test(path)) {
    throw new InvalidOptionsError(
      'healthCheck.path',
      `expected an absolute path without query or spaces, like '/healthz/ready', got ${show(path)}`,
    );
  }
  const healthCheck = Object.freeze({
    path,
    intervalMs: integer(health.intervalMs, 'healthCheck.intervalMs'),
    timeoutMs: integer(health.timeoutMs, 'healthCheck.timeoutMs'),
    unhealthyThreshold: integer(health.unhealthyThreshold, 'healthCheck.unhealthyThreshold'),
    requestFailureThreshold: integer(health.requestFailureThreshold, 'healthCheck.requestFailureThreshold'),
    healthyThreshold: integer(health.healthyThreshold, 'healthCheck.healthyThreshold'),
  });

  const { metrics } = options;
  if (
    metrics !== undefined &&
    (typeof metrics !== 'object' ||
      metrics === null ||
      typeof (metrics as Partial<ClientMetrics>).request !== 'function' ||
      typeof (metrics as Partial<ClientMetrics>).reroute !== 'function')
  ) {
    throw new InvalidOptionsError('metrics', `expected { request(event), reroute(event) }, got ${typeName(metrics)}`);
  }

  return Object.freeze({
    instances,
    discovery,
    metrics: (metrics as ClientMetrics | undefined) ?? null,
    routing: routing as RoutingStrategy,
    healthCheck,
    connectionsPerInstance: integer(options.connectionsPerInstance, 'connectionsPerInstance'),
    requestTimeoutMs: integer(options.requestTimeoutMs, 'requestTimeoutMs'),
    readyTimeoutMs: integer(options.readyTimeoutMs, 'readyTimeoutMs'),
  });
}

/** Validates an instance list; also the entry point a later discovery source feeds. */
export function resolveInstances(
  value: unknown,
  option = 'instances',
): readonly ResolvedInstance[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidOptionsError(
      option,
      `expected a non-empty array of URLs or { id, url }, or { dns, port }, got ${typeName(value)}`,
    );
  }
  const seen = new Set<string>();
  const out: ResolvedInstance[] = [];
  (value as unknown[]).forEach((spec, i) => {
    const name = `${option}[${i}]`;
    let id: unknown;
    let url: unknown;
    if (typeof spec === 'string') {
      id = spec;
      url = spec;
    } else if (isPlainObject(spec)) {
      rejectUnknownKeys(spec, new Set(['id', 'url']), `${name}.`);
      id = spec.id;
      url = spec.url;
    } else {
      throw new InvalidOptionsError(
        name,
        `expected a URL string or { id, url }, got ${typeName(spec)}`,
      );
    }
    if (typeof id !== 'string' || id.length === 0) {
      throw new InvalidOptionsError(`${name}.id`, `expected a non-empty string, got ${show(id)}`);
    }
    if (seen.has(id)) {
      throw new InvalidOptionsError(name, `duplicate instance id ${JSON.stringify(id)}`);
    }
    seen.add(id);
    out.push(
      Object.freeze({ id, url: originOf(url, typeof spec === 'string' ? name : `${name}.url`) }),
    );
  });
  return Object.freeze(out);
}

const DISCOVERY_KEYS = keysOf<DnsDiscoveryOptions>({ dns: true, port: true, refreshMs: true, family: true, servers: true });
// RFC 1123 labels; underscores too, since service names like _http._tcp appear in real zones.
const DNS_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function resolveDiscovery(value: Record<string, unknown>): ResolvedDnsDiscovery {
  rejectUnknownKeys(value, DISCOVERY_KEYS, 'instances.');
  const { dns } = value;
  const name = typeof dns === 'string' && dns.endsWith('.') ? dns.slice(0, -1) : dns;
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > 253 ||
    !name.split('.').every((l) => DNS_LABEL.test(l))
  ) {
    throw new InvalidOptionsError(
      'instances.dns',
      `expected a DNS name like 'keylane-items.default.svc.cluster.local', got ${show(dns)}`,
    );
  }
  if (value.port === undefined) {
    throw new InvalidOptionsError(
      'instances.port',
      'required with instances.dns: DNS A/AAAA records carry no port',
    );
  }
  const family = value.family ?? DEFAULT_DNS_DISCOVERY_OPTIONS.family;
  if (family !== 0 && family !== 4 && family !== 6) {
    throw new InvalidOptionsError(
      'instances.family',
      `expected 4, 6 or 0 (both), got ${show(family)}`,
    );
  }
  let servers: readonly string[] | null = null;
  if (value.servers !== undefined) {
    if (!Array.isArray(value.servers) || value.servers.length === 0) {
      throw new InvalidOptionsError(
        'instances.servers',
        `expected a non-empty array of 'ip' or 'ip:port', got ${typeName(value.servers)}`,
      );
    }
    servers = Object.freeze(
      (value.servers as unknown[]).map((server, i) => dnsServer(server, `instances.servers[${i}]`)),
    );
  }
  return Object.freeze({
    dns: dns as string,
    port: integer(value.port, 'instances.port'),
    refreshMs: integer(value.refreshMs, 'instances.refreshMs'),
    family,
    servers,
  });
}

/** `1.2.3.4`, `1.2.3.4:53`, `::1` or `[::1]:53`: the forms `Resolver.setServers` takes. */
function dnsServer(value: unknown, option: string): string {
  const expected = `expected an IP address with an optional port ('10.96.0.10', '127.0.0.1:5353', '[::1]:53'), got ${show(value)}`;
  if (typeof value !== 'string') throw new InvalidOptionsError(option, expected);
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:]+):(\d{1,5})$/.exec(value);
  const host = match === null ? value : match[1]!;
  const port = match === null ? 53 : Number(match[2]);
  // An IPv6 address takes a port only in brackets: `::1:53` is one address, not ::1 port 53.
  if (isIP(host) === 0 || port < 1 || port > 65_535) {
    throw new InvalidOptionsError(option, expected);
  }
  return value;
}

function originOf(value: unknown, option: string): string {
  if (typeof value !== 'string') {
    throw new InvalidOptionsError(option, `expected an http(s) URL string, got ${typeName(value)}`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidOptionsError(option, `not a URL: ${show(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidOptionsError(option, `expected an http: or https: URL, got ${show(value)}`);
  }
  // The SDK owns the paths (/v1/items/..., the probe path); a base path would be silently dropped.
  if (
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search !== '' ||
    url.hash !== '' ||
    url.username !== ''
  ) {
    throw new InvalidOptionsError(
      option,
      `expected a bare origin like 'http://10.0.0.5:8080', got ${show(value)}`,
    );
  }
  return url.origin;
}

/** An integer option, held to its range in {@link INTEGER_OPTIONS}; its default when absent. */
function integer(value: unknown, option: IntegerOption): number {
  const { default: fallback, min, max } = INTEGER_OPTIONS[option];
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionsError(
      option,
      `expected an integer in [${min}, ${max}], got ${show(value)}`,
    );
  }
  return value;
}

function rejectUnknownKeys(
  object: Record<string, unknown>,
  known: ReadonlySet<string>,
  prefix: string,
): void {
  for (const key of Object.keys(object)) {
    if (!known.has(key)) {
      throw new InvalidOptionsError(
        `${prefix}${key}`,
        `unknown option; expected one of ${[...known].map((k) => prefix + k).join(', ')}`,
      );
    }
  }
}

function keysOf<T>(keys: Record<keyof T, true>): ReadonlySet<string> {
  return new Set(Object.keys(keys));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? show(value) : typeof value;
}

function show(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null)
    return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
