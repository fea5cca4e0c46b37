import type pg from 'pg';
import type { LaneStats } from '../types.js';
import { Lane, type Admission } from './lane.js';
import type { Session } from './session.js';
import { STALL_AFTER_MS, StallWatch, type StallVerdict } from './stall-watch.js';

export interface LaneSetOptions {
  count: number;
  /** The engine's id, for diagnostics events. */
  engine: number;
  postgres: pg.ClientConfig;
  statementTimeoutMs: number;
  maxQueuePerLane: number;
  maxQueueWaitMs: number;
  onDbError: (err: unknown, lane: number) => void;
  onConnected: (lane: number) => void;
  /** A stalled lane's connection was found dead and dropped. */
  onStalled: (verdict: StallVerdict) => void;
}

/** The engine's keyed connections: lane `routingKey % count` (the article's GetDBConnection), shared by every entity. */
export class LaneSet {
  readonly lanes: readonly Lane[];
  private readonly count: bigint;
  private readonly watch: StallWatch;

  constructor(options: LaneSetOptions) {
    this.count = BigInt(options.count);
    this.lanes = Array.from(
      { length: options.count },
      (_, index) =>
        new Lane({
          index,
          engine: options.engine,
          postgres: options.postgres,
          statementTimeoutMs: options.statementTimeoutMs,
          maxQueue: options.maxQueuePerLane,
          maxQueueWaitMs: options.maxQueueWaitMs,
          onDbError: options.onDbError,
          onConnected: options.onConnected,
        }),
    );
    this.watch = new StallWatch(this.lanes, options.postgres, options.onStalled);
  }

  async start(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.start()));
    this.watch.start();
  }

  /** Lanes waiting for an answer longer than the stall bound, not known to be merely slow. */
  stalled(now = Date.now()): Lane[] {
    return this.lanes.filter((lane) => lane.stalled(now, STALL_AFTER_MS));
  }

  /** The lane index of a routing key (a uint64). */
  indexOf(routing: bigint): number {
    return Number(routing % this.count);
  }

  lane(index: number): Lane {
    const lane = this.lanes[index];
    if (!lane) throw new Error(`unreachable: lane index ${index} out of range`);
    return lane;
  }

  run<T>(index: number, job: (session: Session) => Promise<T>, admission?: Admission): Promise<T> {
    return this.lane(index).run(job, admission);
  }

  stats(): LaneStats[] {
    return this.lanes.map((lane) => lane.stats());
  }

  async drain(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.drain()));
  }

  async close(): Promise<void> {
    this.watch.stop();
    await Promise.all(this.lanes.map((lane) => lane.close()));
  }
}
