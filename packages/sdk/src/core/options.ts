import { HEALTH_READY_PATH } from '@keylane/protocol';
import type { RoutingStrategy } from '../routing/router.js';

// The client's option surface: what each option is, its default and its range. The checks
// that hold a caller's options to it are in resolve-options.ts.

// Above this a timer would overflow setTimeout's 32-bit delay and fire at once.
const MAX_MS = 2 ** 31 - 1;

/** Below this a refresh loop would mostly measure the resolver; a fleet does not change that fast. */
export const MIN_REFRESH_MS = 100;

/**
 * Every integer option's default and range, written once, by the path an error names it by.
 * The `DEFAULT_*` objects take their numbers from here and the validators their bounds; the
 * `@default` tags below and the README's table say the same for readers, and
 * test/options-surface.test.ts holds both to this table.
 */
export const INTEGER_OPTIONS = Object.freeze({
  'healthCheck.intervalMs': { default: 1000, min: 1, max: MAX_MS },
  'healthCheck.timeoutMs': { default: 500, min: 1, max: MAX_MS },
  'healthCheck.unhealthyThreshold': { default: 2, min: 1, max: 1000 },
  'healthCheck.requestFailureThreshold': { default: 5, min: 1, max: 1000 },
  'healthCheck.healthyThreshold': { default: 2, min: 1, max: 1000 },
  /** Required with `instances.dns`: no default. */
  'instances.port': { default: undefined, min: 1, max: 65_535 },
  'instances.refreshMs': { default: 5000, min: MIN_REFRESH_MS, max: MAX_MS },
  connectionsPerInstance: { default: 16, min: 1, max: 4096 },
  requestTimeoutMs: { default: 2000, min: 1, max: MAX_MS },
  readyTimeoutMs: { default: 5000, min: 1, max: MAX_MS },
} as const);

export type IntegerOption = keyof typeof INTEGER_OPTIONS;

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
  intervalMs: INTEGER_OPTIONS['healthCheck.intervalMs'].default,
  timeoutMs: INTEGER_OPTIONS['healthCheck.timeoutMs'].default,
  unhealthyThreshold: INTEGER_OPTIONS['healthCheck.unhealthyThreshold'].default,
  requestFailureThreshold: INTEGER_OPTIONS['healthCheck.requestFailureThreshold'].default,
  healthyThreshold: INTEGER_OPTIONS['healthCheck.healthyThreshold'].default,
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
  refreshMs: INTEGER_OPTIONS['instances.refreshMs'].default,
  family: 0,
} as const satisfies Required<Pick<DnsDiscoveryOptions, 'refreshMs' | 'family'>>);

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
  connectionsPerInstance: INTEGER_OPTIONS.connectionsPerInstance.default,
  requestTimeoutMs: INTEGER_OPTIONS.requestTimeoutMs.default,
  readyTimeoutMs: INTEGER_OPTIONS.readyTimeoutMs.default,
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
