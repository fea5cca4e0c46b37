import { Pool } from 'undici';
import type { ResolvedInstance } from '../core/options.js';

/** Where an instance stands. It receives keys only while `healthy`. */
export type InstanceState = 'unknown' | 'healthy' | 'unhealthy';

/** What `getServiceConnection` returns: the chosen instance and its connection pool. */
export interface ServiceConnection {
  readonly instanceId: string;
  readonly url: string;
  /** The instance's undici `Pool`; callers may send their own requests on it. */
  readonly dispatcher: Pool;
}

/** One instance of the fleet: its pool, its health counters. State changes go through InstanceSet. */
export class Instance {
  readonly id: string;
  readonly url: string;
  readonly pool: Pool;
  /** Prebuilt so routing hands out the same object every time instead of allocating one. */
  readonly connection: ServiceConnection;

  state: InstanceState = 'unknown';
  consecutiveFailures = 0;
  consecutiveSuccesses = 0;
  probesOk = 0;
  probesFailed = 0;
  requestsOk = 0;
  requestsFailed = 0;
  connectionFailures = 0;
  /** Failed requests in a row since the last good one (passive health, apart from probes). */
  requestFailureStreak = 0;
  /** Requests this client has sent or queued to the instance and not yet settled. */
  inflight = 0;
  /** Recent time from sending a request to its answer, ms (exponentially weighted). */
  latencyMs = 0;
  /**
   * Its last probe said it is down to what it can serve without a dependency (readiness 503
   * `degraded`): routed to only when no instance is healthy.
   */
  degraded = false;
  /** Aborts for the reads in flight to this instance: rerouted when it is marked down. */
  readonly inflightReads = new Set<() => void>();
  lastReason: string | null = null;

  constructor(spec: ResolvedInstance, connections: number) {
    this.id = spec.id;
    this.url = spec.url;
    this.pool = new Pool(spec.url, { connections });
    this.connection = Object.freeze({ instanceId: this.id, url: this.url, dispatcher: this.pool });
  }
}
