export { createClient, KeylaneClient } from './client/keylane-client.js';
export type { ClientEvents, ClientStats } from './client/keylane-client.js';
export type { RequestOptions } from './client/call-options.js';
export type { PutOptions } from './client/item-operations.js';
export type { InstanceStats, InstancesChange } from './pool/instance-set.js';
export type { RoutedRequestOptions, RoutedResponse } from './client/routed-request.js';
export { SDK_CHANNELS, type RequestContext } from './core/diagnostics.js';
export type { DiscoveryStats } from './discovery/dns-discovery.js';
export { createRouter, type Router, type RoutingStrategy } from './routing/router.js';
export { RING_POINTS_PER_INSTANCE } from './routing/consistent-ring.js';
export type { InstanceState, ServiceConnection } from './pool/instance.js';
export {
  DEFAULT_CLIENT_OPTIONS,
  DEFAULT_HEALTH_CHECK_OPTIONS,
  DEFAULT_DNS_DISCOVERY_OPTIONS,
  MIN_REFRESH_MS,
  type ClientMetrics,
  type ClientOptions,
  type RequestEvent,
  type RerouteEvent,
  type DnsDiscoveryOptions,
  type DnsFamily,
  type HealthCheckOptions,
  type InstanceSpec,
} from './core/options.js';
export {
  ClientClosedError,
  ConnectionError,
  DiscoveryError,
  InvalidOptionsError,
  InvalidValueError,
  NoHealthyInstanceError,
  RequestTimeoutError,
  ServiceError,
} from './core/errors.js';
// Errors that cross the wire are defined once, in the protocol; re-exported so callers
// can match on them (or on `code`) with one import.
export {
  KeylaneError,
  InvalidKeyError,
  VersionConflictError,
  OverloadedError,
  UnavailableError,
  OutcomeUnknownError,
  DeadlineExceededError,
  parseLongId,
  routingKey,
  formatLongId,
  type Item,
  type LongIdInput,
} from '@keylane/protocol';
