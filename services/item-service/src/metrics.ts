import { readFileSync } from 'node:fs';
import { tracingChannel } from 'node:diagnostics_channel';
import {
  ENGINE_CHANNELS,
  type EngineStats as EngineCounters,
  type LaneWaitContext,
  type QueryContext,
  type RedisScriptContext,
  type TransactionContext,
} from '@keylane/engine';
import type { ItemsStats } from '@keylane/engine/items';
import { ERROR_CODES, type ErrorCode } from '@keylane/protocol';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The item service's version, from its package.json (dist/ and src/ both sit one folder below it). */
export const SERVICE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** What one scrape reads: the engine's counters plus the items entity's own. */
export type EngineStats = EngineCounters & ItemsStats;

/** The metrics of one server. Each server has its own registry, so two in one process never collide. */
export interface ServiceMetrics {
  readonly registry: Registry;
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** Counts a request whose latency was not measured (refused before routing). */
  countRequest(route: string, method: string, status: number): void;
  /** Requests Node refused before Fastify saw them (malformed HTTP, oversize heads). */
  countClientError(reason: string): void;
  setDraining(draining: boolean): void;
  /** Counts an error answer by its wire code. */
  countError(code: ErrorCode): void;
  /** Stops listening to the engine's channels (the registry stays readable). */
  close(): void;
}

export interface MetricsOptions {
  instanceId: string;
  strategy: string;
  /** Read at scrape time, so the engine's counters are never stale or double-counted. */
  stats: () => EngineStats;
  /** Process metrics (CPU, memory, event loop lag, fds). @default true */
  processMetrics?: boolean;
  /**
   * The engine's `id`: its diagnostics events feed the lane wait, statement, transaction and
   * script histograms (the engine times nothing while nobody listens). @default none: those stay empty
   */
  engineId?: number;
}

// Seconds. Lane waits and transactions run from sub-millisecond to the marker TTL (seconds);
// statements and scripts are mostly loopback round trips.
const WAIT_BUCKETS = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];
const ROUND_TRIP_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

// Engine counters exported as Prometheus counters: [metric name, help, how to read it].
const ENGINE_COUNTERS: readonly (readonly [string, string, (s: EngineStats) => number])[] = [
  ['keylane_engine_reads_total', 'Reads the engine served.', (s) => s.reads],
  ['keylane_cache_hits_total', 'Reads answered from Redis.', (s) => s.hits],
  ['keylane_cache_misses_total', 'Reads that missed the cache.', (s) => s.misses],
  [
    'keylane_cache_coalesced_total',
    "Misses answered by another miss's fill in the same lane.",
    (s) => s.coalesced,
  ],
  ['keylane_db_reads_total', 'Item reads from PostgreSQL.', (s) => s.dbReads],
  ['keylane_cache_fills_total', 'Cache fills that were stored.', (s) => s.fills],
  [
    'keylane_cache_fills_rejected_total',
    'Fills the guard refused (a write began, or the lease expired).',
    (s) => s.fillsRejected,
  ],
  [
    'keylane_cache_write_fills_total',
    "Writes and deletes whose committed row was cached at the write's end (serial-guarded).",
    (s) => s.writeFills,
  ],
  ['keylane_engine_writes_total', 'Writes committed.', (s) => s.writes],
  ['keylane_engine_deletes_total', 'Deletes committed.', (s) => s.deletes],
  [
    'keylane_version_conflicts_total',
    'Conditional writes refused with version_conflict.',
    (s) => s.versionConflicts,
  ],
  [
    'keylane_writes_expired_total',
    'Writes whose deadline passed before they could commit (nothing committed).',
    (s) => s.writesExpired,
  ],
  ['keylane_overloaded_total', 'Jobs refused because their lane was full.', (s) => s.overloaded],
  [
    'keylane_writes_unknown_total',
    'Mutations whose connection broke during COMMIT: they may have committed (their marker is left to expire).',
    (s) => s.writesUnknown,
  ],
  [
    'keylane_deadlines_exceeded_total',
    "Reads and mutations refused because the caller's own deadline passed first (nothing committed).",
    (s) => s.deadlinesExceeded,
  ],
  [
    'keylane_cache_fills_held_total',
    'Misses and write ends that did not fill because Redis came back as another server within a marker TTL.',
    (s) => s.fillsHeld,
  ],
  [
    'keylane_engine_mutations_total',
    'Mutations committed (writes and deletes).',
    (s) => s.mutations,
  ],
  [
    'keylane_grouped_mutations_total',
    "Mutations that ran in another mutation's transaction (group commit of a hot key's queued writes).",
    (s) => s.groupedMutations,
  ],
  [
    'keylane_cache_invalidations_total',
    'invalidate calls that reached Redis.',
    (s) => s.invalidations,
  ],
  ['keylane_redis_errors_total', 'Redis commands that failed.', (s) => s.redisErrors],
  ['keylane_db_errors_total', 'PostgreSQL queries that failed.', (s) => s.dbErrors],
];

const LEASE_OUTCOMES = [
  ['granted', (s: EngineStats) => s.leases.granted],
  ['write_in_progress', (s: EngineStats) => s.leases.writeInProgress],
  ['busy', (s: EngineStats) => s.leases.busy],
] as const;

// The engine's field names as Prometheus label values.
const REPLICA_ROUTES = [
  ['served', 'served'],
  ['lagging', 'lagging'],
  ['unsettled', 'unsettled'],
  ['noFloor', 'no_floor'],
  ['unavailable', 'unavailable'],
  ['notStandby', 'not_standby'],
] as const satisfies readonly (readonly [keyof EngineStats['replicaReads'], string])[];

export function createMetrics(options: MetricsOptions): ServiceMetrics {
  // One engine snapshot per scrape: prom-client runs every collect() in the same tick, so
  // the counters of one scrape agree with each other (hits + misses = reads).
  let snapshot: EngineStats | undefined;
  const stats = (): EngineStats => {
    if (snapshot === undefined) {
      snapshot = options.stats();
      queueMicrotask(() => {
        snapshot = undefined;
      });
    }
    return snapshot;
  };
  const registry = new Registry();
  registry.setDefaultLabels({ instance_id: options.instanceId });
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'keylane_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'keylane_http_request_duration_seconds',
    help: 'Time from request to response, by route pattern and method.',
    labelNames: ['route', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const clientErrors = new Counter({
    name: 'keylane_http_client_errors_total',
    help: 'Requests refused by the HTTP parser before routing, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const draining = new Gauge({
    name: 'keylane_draining',
    help: '1 while the instance drains before shutdown (readiness answers 503).',
    registers: [registry],
  });
  draining.set(0);
  new Gauge({
    name: 'keylane_instance_info',
    help: 'Always 1; labels describe the instance.',
    labelNames: ['strategy'] as const,
    registers: [registry],
  }).set({ strategy: options.strategy }, 1);
  new Gauge({
    name: 'keylane_build_info',
    help: 'Always 1; the item service version and the Node.js it runs on.',
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version: SERVICE_VERSION, node: process.versions.node }, 1);
  const errors = new Counter({
    name: 'keylane_errors_total',
    help: 'Error answers by wire code (reason), as registered in @keylane/protocol.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  // Every registered code from the start, so rate() and alerts see a zero before the first error.
  for (const reason of Object.keys(ERROR_CODES)) errors.inc({ reason }, 0);

  const laneWait = new Histogram({
    name: 'keylane_lane_wait_seconds',
    help: 'Time a job waited in its lane queue: until it started, or left (deadline, caller gone).',
    labelNames: ['outcome'] as const,
    buckets: WAIT_BUCKETS,
    registers: [registry],
  });
  const statements = new Histogram({
    name: 'keylane_db_statement_duration_seconds',
    help: 'PostgreSQL statements sent through the engine, by connection (lane or pool) and outcome.',
    labelNames: ['connection', 'outcome'] as const,
    buckets: ROUND_TRIP_BUCKETS,
    registers: [registry],
  });
  const transactions = new Histogram({
    name: 'keylane_db_transaction_duration_seconds',
    help: "Mutations' transactions, BEGIN to COMMIT or ROLLBACK, by whether they committed (yes, no, unknown).",
    labelNames: ['committed'] as const,
    buckets: WAIT_BUCKETS,
    registers: [registry],
  });
  const scripts = new Histogram({
    name: 'keylane_redis_script_duration_seconds',
    help: 'Guard scripts on Redis (EVALSHA), by script and outcome.',
    labelNames: ['script', 'outcome'] as const,
    buckets: ROUND_TRIP_BUCKETS,
    registers: [registry],
  });
  // The outcomes known in advance start at zero, so rate() and the panels see them before the first one.
  for (const outcome of ['started', 'left']) laneWait.zero({ outcome });
  for (const committed of ['yes', 'no', 'unknown']) transactions.zero({ committed });
  for (const connection of ['lane', 'pool'])
    for (const outcome of ['ok', 'error']) statements.zero({ connection, outcome });
  const unsubscribe =
    options.engineId === undefined
      ? () => undefined
      : observeEngine(options.engineId, {
          laneWait: (c: LaneWaitContext, seconds) =>
            laneWait.observe({ outcome: c.error === undefined ? 'started' : 'left' }, seconds),
          query: (c: QueryContext, seconds) =>
            statements.observe(
              {
                connection: c.lane === null ? 'pool' : 'lane',
                outcome: c.error === undefined ? 'ok' : 'error',
              },
              seconds,
            ),
          transaction: (c: TransactionContext, seconds) =>
            transactions.observe({ committed: c.committed ?? 'unknown' }, seconds),
          redisScript: (c: RedisScriptContext, seconds) =>
            scripts.observe(
              { script: c.script, outcome: c.error === undefined ? 'ok' : 'error' },
              seconds,
            ),
        });

  for (const [name, help, read] of ENGINE_COUNTERS) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        // A counter mirrors the engine's monotonic total: reset, then add the total.
        this.reset();
        this.inc(read(stats()));
      },
    });
  }
  new Counter({
    name: 'keylane_leases_total',
    help: 'Fill lease requests by outcome (serial-guarded).',
    labelNames: ['outcome'] as const,
    registers: [registry],
    collect() {
      const current = stats();
      this.reset();
      for (const [outcome, read] of LEASE_OUTCOMES) this.inc({ outcome }, read(current));
    },
  });
  new Counter({
    name: 'keylane_replica_reads_total',
    help: 'Misses that could use a Postgres replica: served by one, or sent to the primary and why (lagging, unsettled, no_floor, unavailable, not_standby).',
    labelNames: ['route'] as const,
    registers: [registry],
    collect() {
      const current = stats().replicaReads;
      this.reset();
      for (const [route, label] of REPLICA_ROUTES) this.inc({ route: label }, current[route]);
    },
  });
  const laneGauges = [
    [
      'keylane_lane_queue_depth',
      'Jobs waiting in each lane (not counting the running one).',
      (l: EngineStats['lanes'][number]) => l.queued,
    ],
    [
      'keylane_lane_running',
      '1 while a lane runs a job.',
      (l: EngineStats['lanes'][number]) => (l.running ? 1 : 0),
    ],
    [
      'keylane_lane_connected',
      "1 while a lane's PostgreSQL connection is up.",
      (l: EngineStats['lanes'][number]) => (l.connected ? 1 : 0),
    ],
  ] as const;
  for (const [name, help, read] of laneGauges) {
    new Gauge({
      name,
      help,
      labelNames: ['lane'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const lane of stats().lanes) this.set({ lane: String(lane.index) }, read(lane));
      },
    });
  }
  new Gauge({
    name: 'keylane_lane_queue_depth_max',
    help: 'The deepest lane queue right now (bounded by KEYLANE_MAX_QUEUE_PER_LANE).',
    registers: [registry],
    collect() {
      this.set(Math.max(0, ...stats().lanes.map((l) => l.queued)));
    },
  });

  return {
    registry,
    observeRequest(route, method, status, seconds) {
      requests.inc({ route, method, status: String(status) });
      latency.observe({ route, method }, seconds);
    },
    countRequest(route, method, status) {
      requests.inc({ route, method, status: String(status) });
    },
    countClientError(reason) {
      clientErrors.inc({ reason });
    },
    setDraining(value) {
      draining.set(value ? 1 : 0);
    },
    countError(code) {
      errors.inc({ reason: code });
    },
    close() {
      unsubscribe();
    },
  };
}

type Observer<C> = (context: C, seconds: number) => void;

/**
 * Times the engine's traced work from `start` to `asyncEnd` (its promise settled) for the
 * events of one engine, and returns the unsubscribe.
 */
function observeEngine(
  engineId: number,
  observers: {
    laneWait: Observer<LaneWaitContext>;
    query: Observer<QueryContext>;
    transaction: Observer<TransactionContext>;
    redisScript: Observer<RedisScriptContext>;
  },
): () => void {
  const stops = (Object.keys(observers) as (keyof typeof observers)[]).map((name) => {
    const observe = observers[name] as Observer<{ engine: number }>;
    const channel = tracingChannel<unknown, { engine: number }>(ENGINE_CHANNELS[name]);
    const began = new WeakMap<object, number>();
    const start = (message: unknown): void => {
      const context = message as { engine: number };
      if (context.engine === engineId) began.set(context, performance.now());
    };
    const asyncEnd = (message: unknown): void => {
      const context = message as { engine: number };
      const at = began.get(context);
      if (at !== undefined) observe(context, (performance.now() - at) / 1000);
    };
    // Only the two events timed: the engine's other events stay unsubscribed.
    channel.start.subscribe(start);
    channel.asyncEnd.subscribe(asyncEnd);
    return () => {
      channel.start.unsubscribe(start);
      channel.asyncEnd.unsubscribe(asyncEnd);
    };
  });
  return () => stops.forEach((stop) => stop());
}
