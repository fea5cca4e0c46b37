import { isIP } from 'node:net';
import { HEALTH_READY_PATH } from '@keylane/protocol';
import { InvalidOptionsError } from './errors.js';
import type { RoutingStrategy } from '../routing/router.js';

/** One item-service instance: a bare origin (the id is the string itself) or an id and a URL. */
export type InstanceSpec = string | { readonly id: string; readonly url: string };

export interface HealthCheckOptions {
  /**
   * The path probed on each instance; any answer other than 200 is a failure.
   * @default '/healthz/ready'
   */
  path?: string;
  /**
   * Time between the starts of two probes of one instance.
   * @default 1000
   */
  intervalMs?: number;
  /**
   * A probe that has no status line within this time fails.
   * @default 500
   */
  timeoutMs?: number;
  /**
   * Consecutive failed probes that mark a healthy instance down.
   * @default 2
   */
  unhealthyThreshold?: number;
  /**
   * Consecutive failed requests (broken connections, answers that say the instance itself is
   * sick: 500 or a 5xx with no protocol body) that mark a healthy instance down, as Envoy's
   * outlier detection does; one request's trouble is not evidence about the instance. A refused
   * connection marks it down at once. Answers about one request or a shared dependency
   * (4xx, `overloaded`, `unavailable`, `deadline_exceeded`, `outcome_unknown`) never count.
   * @default 5
   */
  requestFailureThreshold?: number;
  /**
   * Consecutive successful probes that bring a down instance back.
   * @default 2
   */
  healthyThreshold?: number;
}

export const DEFAULT_HEALTH_CHECK_OPTIONS: Readonly<Required<HealthCheckOptions>> = Object.freeze({
  path: HEALTH_READY_PATH,
  intervalMs: 1000,
  timeoutMs: 500,
  unhealthyThreshold: 2,
  requestFailureThreshold: 5,
  healthyThreshold: 2,
});

/**
 * Find the fleet through DNS: every A/AAAA record behind `dns` is one instance at
 * `http://<address>:<port>`, with the id `<address>:<port>` (IPv6 as `[<address>]:<port>`).
 */
export interface DnsDiscoveryOptions {
  /** The name to resolve, e.g. a Kubernetes headless Service: `keylane-items.default.svc.cluster.local`. */
  dns: string;
  /** The port every instance listens on (DNS A/AAAA records carry no port). */
  port: number;
  /**
   * Time between the starts of two resolutions; also the deadline of one resolution.
   * @default 5000
   */
  refreshMs?: number;
  /**
   * Which records to use: `4` (A), `6` (AAAA) or `0` (both).
   * @default 0
   */
  family?: DnsFamily;
  /**
   * DNS servers to ask directly (`'10.96.0.10'`, `'127.0.0.1:5353'`, `'[::1]:53'`), through a
   * `node:dns` Resolver. Without it the name goes through the system's resolution
   * (`dns.lookup`, so `/etc/hosts` and the search domains in `/etc/resolv.conf` apply).
   */
  servers?: readonly string[];
}

export type DnsFamily = 0 | 4 | 6;

export const DEFAULT_DNS_DISCOVERY_OPTIONS = Object.freeze({
  refreshMs: 5000,
  family: 0,
} as const satisfies Required<Pick<DnsDiscoveryOptions, 'refreshMs' | 'family'>>);

/** Below this a refresh loop would mostly measure the resolver; a fleet does not change that fast. */
export const MIN_REFRESH_MS = 100;

export interface ClientOptions {
  /**
   * The fleet: a static list (ids must be unique; the order does not matter for routing),
   * or a DNS name re-resolved every `refreshMs` (see {@link DnsDiscoveryOptions}).
   */
  instances: readonly InstanceSpec[] | DnsDiscoveryOptions;
  /**
   * How a key picks an instance among the healthy ones (see README, "Routing").
   * @default 'modulo'
   */
  routing?: RoutingStrategy;
  /** Active health checking; see {@link HealthCheckOptions} for each field's default. */
  healthCheck?: HealthCheckOptions;
  /**
   * Size of each instance's undici `Pool` (the connections requests may use at once).
   * @default 16
   */
  connectionsPerInstance?: number;
  /**
   * Deadline for one `get`/`put`/`delete`, retry included.
   * @default 2000
   */
  requestTimeoutMs?: number;
  /**
   * How long `ready()` waits for the first health round to find a healthy instance.
   * @default 5000
   */
  readyTimeoutMs?: number;
  /**
   * Told about every attempt and reroute: per-instance requests, failures by code, reroutes.
   * `prometheusMetrics(registry)` from `@keylane/sdk/prometheus` makes one for a prom-client
   * registry. @default none
   */
  metrics?: ClientMetrics;
}

/** One attempt of a call, settled. */
export interface RequestEvent {
  readonly instance: string;
  /** `GET`, `PUT`, `DELETE`, or any method `client.request` sent. */
  readonly method: string;
  readonly outcome: 'ok' | 'error';
  /** Why it failed (as the `keylane:sdk:request` span's `code`); undefined when it succeeded. */
  readonly code: string | undefined;
  /** From sending to the answer (or the failure). */
  readonly seconds: number;
}

/** A call that moved to another instance after an attempt failed (reads only). */
export interface RerouteEvent {
  readonly from: string;
  readonly to: string;
  /** Why the attempt on `from` failed. */
  readonly code: string;
}

/** What the client reports its requests to; called synchronously, so keep it cheap. */
export interface ClientMetrics {
  request(event: RequestEvent): void;
  reroute(event: RerouteEvent): void;
}

export const DEFAULT_CLIENT_OPTIONS = Object.freeze({
  routing: 'modulo',
  connectionsPerInstance: 16,
  requestTimeoutMs: 2000,
  readyTimeoutMs: 5000,
} as const satisfies Omit<Required<ClientOptions>, 'instances' | 'healthCheck' | 'metrics'>);

export interface ResolvedInstance {
  readonly id: string;
  /** The origin (`http://host:port`), with no path. */
  readonly url: string;
}

export interface ResolvedDnsDiscovery {
  readonly dns: string;
  readonly port: number;
  readonly refreshMs: number;
  readonly family: DnsFamily;
  /** `null`: the system's resolution (`dns.lookup`). */
  readonly servers: readonly string[] | null;
}

export interface ResolvedOptions {
  /** The static list; empty when the fleet comes from `discovery`. */
  readonly instances: readonly ResolvedInstance[];
  readonly discovery: ResolvedDnsDiscovery | null;
  readonly routing: RoutingStrategy;
  readonly healthCheck: Readonly<Required<HealthCheckOptions>>;
  readonly connectionsPerInstance: number;
  readonly requestTimeoutMs: number;
  readonly readyTimeoutMs: number;
  readonly metrics: ClientMetrics | null;
}

const CLIENT_KEYS = new Set<string>([
  'metrics',
  'instances',
  'routing',
  'healthCheck',
  'connectionsPerInstance',
  'requestTimeoutMs',
  'readyTimeoutMs',
]);
const HEALTH_KEYS = new Set<string>(Object.keys(DEFAULT_HEALTH_CHECK_OPTIONS));
const ROUTING_STRATEGIES: readonly string[] = ['modulo', 'consistent'];
// Above this a timer would overflow setTimeout's 32-bit delay and fire at once.
const MAX_MS = 2 ** 31 - 1;

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
    intervalMs: integer(
      health.intervalMs,
      'healthCheck.intervalMs',
      DEFAULT_HEALTH_CHECK_OPTIONS.intervalMs,
      1,
      MAX_MS,
    ),
    timeoutMs: integer(
      health.timeoutMs,
      'healthCheck.timeoutMs',
      DEFAULT_HEALTH_CHECK_OPTIONS.timeoutMs,
      1,
      MAX_MS,
    ),
    unhealthyThreshold: integer(
      health.unhealthyThreshold,
      'healthCheck.unhealthyThreshold',
      DEFAULT_HEALTH_CHECK_OPTIONS.unhealthyThreshold,
      1,
      1000,
    ),
    requestFailureThreshold: integer(
      health.requestFailureThreshold,
      'healthCheck.requestFailureThreshold',
      DEFAULT_HEALTH_CHECK_OPTIONS.requestFailureThreshold,
      1,
      1000,
    ),
    healthyThreshold: integer(
      health.healthyThreshold,
      'healthCheck.healthyThreshold',
      DEFAULT_HEALTH_CHECK_OPTIONS.healthyThreshold,
      1,
      1000,
    ),
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
    connectionsPerInstance: integer(
      options.connectionsPerInstance,
      'connectionsPerInstance',
      DEFAULT_CLIENT_OPTIONS.connectionsPerInstance,
      1,
      4096,
    ),
    requestTimeoutMs: integer(
      options.requestTimeoutMs,
      'requestTimeoutMs',
      DEFAULT_CLIENT_OPTIONS.requestTimeoutMs,
      1,
      MAX_MS,
    ),
    readyTimeoutMs: integer(
      options.readyTimeoutMs,
      'readyTimeoutMs',
      DEFAULT_CLIENT_OPTIONS.readyTimeoutMs,
      1,
      MAX_MS,
    ),
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

const DISCOVERY_KEYS = new Set(['dns', 'port', 'refreshMs', 'family', 'servers']);
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
    port: integer(value.port, 'instances.port', 0, 1, 65_535),
    refreshMs: integer(
      value.refreshMs,
      'instances.refreshMs',
      DEFAULT_DNS_DISCOVERY_OPTIONS.refreshMs,
      MIN_REFRESH_MS,
      MAX_MS,
    ),
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

function integer(
  value: unknown,
  option: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
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
