import { OverloadedError, routingKey } from '@keylane/protocol';
import type { Queryable } from '../store/item-store.js';
import type { LaneStats } from '../types.js';
import { Lane } from './lane.js';

export interface LaneSetOptions {
  count: number;
  connectionString: string;
  statementTimeoutMs: number;
  maxQueuePerLane: number;
  onDbError: (err: unknown) => void;
  onOverloaded: () => void;
}

/** The engine's keyed connections: lane `routingKey(id) % count` (the article's GetDBConnection). */
export class LaneSet {
  readonly lanes: readonly Lane[];

  constructor(private readonly options: LaneSetOptions) {
    this.lanes = Array.from(
      { length: options.count },
      (_, index) =>
        new Lane({
          index,
          connectionString: options.connectionString,
          statementTimeoutMs: options.statementTimeoutMs,
          maxQueue: options.maxQueuePerLane,
          onDbError: options.onDbError,
        }),
    );
  }

  async start(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.start()));
  }

  laneFor(id: bigint): Lane {
    const lane = this.lanes[Number(routingKey(id) % BigInt(this.lanes.length))];
    if (!lane) throw new Error('unreachable: lane index out of range');
    return lane;
  }

  run<T>(id: bigint, job: (db: Queryable) => Promise<T>): Promise<T> {
    return this.laneFor(id)
      .run(job)
      .catch((err: unknown) => {
        if (err instanceof OverloadedError) this.options.onOverloaded();
        throw err;
      });
  }

  stats(): LaneStats[] {
    return this.lanes.map((lane) => lane.stats());
  }

  async drain(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.drain()));
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.close()));
  }
}
