import pg from 'pg';
import { WatermarkState } from '../cache/scripts.js';
import type { Watermark } from '../cache/cache.js';
import type { ReplicaReadStats } from '../types.js';
import { clientConfig } from './lane.js';
import { maxLsn } from './lsn.js';
import { Session } from './session.js';

/** Why a miss that could have used a replica read the primary; 'served': it did use one. */
export type ReplicaRoute = keyof ReplicaReadStats;

/** A replica that failed is left alone this long before a lane tries it again. */
const REPLICA_RETRY_MS = 1_000;

/**
 * Replay position and recovery state in one statement, sent before the loader's statements on
 * the same connection. Before, not with: a statement's snapshot is taken when it starts, and
 * `pg_last_wal_replay_lsn()` is read later, while it runs, so a commit replayed in between
 * would pass the check yet be missing from that statement's rows. Checked first, every
 * snapshot the loader takes afterwards includes what the check saw replayed.
 */
const REPLAY_CHECK = 'SELECT pg_is_in_recovery() AS standby, COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS fresh';

export interface ReplicaSetOptions {
  replicas: readonly Readonly<pg.ClientConfig>[];
  lanes: number;
  engine: number;
  statementTimeoutMs: number;
  /** `naive`: the unsafe twin, no replay check at all. */
  mode: 'watermark' | 'naive';
  /** How far back a floor sample may be (ResolvedOptions.floorWindowMs). */
  floorWindowMs: number;
  /** Reads the primary's current insert LSN (outside the lanes). */
  sampleLsn: () => Promise<string>;
  /** Times Redis came back as another server: each one drops the floor's samples. */
  redisRestarts: () => number;
}

/** What a key needs of a replica: an LSN it must have replayed, or a reason to use the primary. */
export type ReplicaNeed = { readonly lsn: string } | { readonly route: 'unsettled' | 'noFloor' };

/**
 * The streaming replicas misses may read (README "Replica reads"). Lane i has its own
 * connection to replica i mod n, used only by the lane's job that holds it, so a lane stays one
 * serial queue whichever server its reads go to; each replica holds about lanes / n
 * connections per engine.
 */
export class ReplicaSet {
  private readonly connections: ReplicaConnection[];
  private readonly floor: LsnFloor;

  constructor(private readonly options: ReplicaSetOptions) {
    const n = options.replicas.length;
    this.connections = Array.from(
      { length: options.lanes },
      (_, lane) => new ReplicaConnection(clientConfig(options.replicas[lane % n]!, options.statementTimeoutMs), options.engine, lane),
    );
    this.floor = new LsnFloor(options.floorWindowMs, options.sampleLsn, options.redisRestarts);
  }

  get naive(): boolean {
    return this.options.mode === 'naive';
  }

  async start(): Promise<void> {
    await this.floor.start();
  }

  /**
   * The LSN a replica must have replayed to serve this key: its watermark, raised to the floor
   * (which covers every commit older than the watermark's life), or why only the primary may.
   */
  need(watermark: Watermark | undefined): ReplicaNeed {
    if (watermark === undefined || watermark.state === WatermarkState.Doubt) return { route: 'unsettled' };
    const floor = this.floor.current();
    if (floor === undefined) return { route: 'noFloor' };
    return { lsn: maxLsn(watermark.lsn, floor) };
  }

  /** Runs `load` on the lane's replica once it has replayed `lsn` (naive: at once). */
  read(lane: number, lsn: string, load: (session: Session) => Promise<string>): Promise<{ text: string } | { route: ReplicaRoute }> {
    return this.connections[lane]!.read(this.naive ? undefined : lsn, load);
  }

  async close(): Promise<void> {
    this.floor.stop();
    await Promise.all(this.connections.map((c) => c.close()));
  }
}

class ReplicaConnection {
  private client: pg.Client | undefined;
  private retryAt = 0;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly engine: number,
    private readonly lane: number,
  ) {}

  async read(lsn: string | undefined, load: (session: Session) => Promise<string>): Promise<{ text: string } | { route: ReplicaRoute }> {
    const client = await this.connected();
    if (!client) return { route: 'unavailable' };
    const session = new Session(client, () => this.drop(client), undefined, { engine: this.engine, lane: this.lane });
    try {
      // Pipelined: pg sends the loader's statements after the check on this connection, and
      // the check's answer decides whether their rows are used.
      const check = lsn === undefined ? undefined : session.query<{ standby: boolean; fresh: boolean }>(REPLAY_CHECK, [lsn]);
      const loading = load(session);
      loading.catch(() => undefined);
      if (check) {
        const row = (await check).rows[0];
        if (!row?.standby || !row.fresh) {
          await loading.catch(() => undefined);
          return { route: row?.standby ? 'lagging' : 'notStandby' };
        }
      }
      return { text: await loading };
    } catch (err) {
      session.observe(err);
      // A replay conflict, a broken socket, the loader failing there: the primary answers
      // instead (a loader that fails on the primary too reports its own error there).
      if (session.broken) this.drop(client);
      return { route: 'unavailable' };
    } finally {
      session.close();
    }
  }

  private async connected(): Promise<pg.Client | undefined> {
    if (this.client) return this.client;
    if (performance.now() < this.retryAt) return undefined;
    const client = new pg.Client(this.config);
    client.on('error', () => this.drop(client));
    try {
      await client.connect();
    } catch {
      this.retryAt = performance.now() + REPLICA_RETRY_MS;
      await client.end().catch(() => undefined);
      return undefined;
    }
    this.client = client;
    return client;
  }

  private drop(client: pg.Client): void {
    if (this.client === client) this.client = undefined;
    this.retryAt = performance.now() + REPLICA_RETRY_MS;
    void client.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

/**
 * The primary's insert LSN sampled every second: the floor for keys whose watermark is gone.
 * The floor now is the oldest sample taken within the window: any write that last touched a
 * key without a watermark committed before it (see floorWindowMs). Samples from before a Redis
 * restart are dropped, since the restart may have lost watermarks of recent writes.
 */
class LsnFloor {
  private samples: { at: number; lsn: string }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private restartsSeen: number;
  /** Samples begun before this (the last Redis restart seen) are not kept. */
  private validFrom = 0;
  private sampling = false;
  private readonly everyMs: number;

  constructor(
    private readonly windowMs: number,
    private readonly sample: () => Promise<string>,
    private readonly restarts: () => number,
  ) {
    this.restartsSeen = restarts();
    this.everyMs = Math.max(10, Math.min(1_000, Math.floor(windowMs / 8)));
  }

  async start(): Promise<void> {
    await this.take();
    this.timer = setInterval(() => void this.take(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  current(now = performance.now()): string | undefined {
    this.forgetIfRestarted();
    const from = now - this.windowMs;
    while (this.samples.length > 0 && this.samples[0]!.at < from) this.samples.shift();
    return this.samples[0]?.lsn;
  }

  // A sample is stamped with when it was sent, a lower bound of when the LSN was read; one
  // at a time, so samples stay in order.
  private async take(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    const at = performance.now();
    try {
      const lsn = await this.sample();
      this.forgetIfRestarted();
      if (at >= this.validFrom) this.samples.push({ at, lsn });
    } catch {
      // The primary is unreachable: the floor ages out, and keys without a watermark read it.
    } finally {
      this.sampling = false;
    }
  }

  private forgetIfRestarted(): void {
    const restarts = this.restarts();
    if (restarts === this.restartsSeen) return;
    this.restartsSeen = restarts;
    this.samples = [];
    this.validFrom = performance.now();
  }
}
