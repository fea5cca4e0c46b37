import { createEngine } from '@keylane/engine';
import { createEngine as createLabEngine } from '@keylane/engine/baselines';
import { createItems } from '@keylane/engine/items';
import type { EngineCounters } from './metrics.js';
import type { ItemTarget } from './phases.js';

export interface EmbeddedEngine extends ItemTarget {
  close(): Promise<void>;
}

/**
 * Keylane embedded: `@keylane/engine` (serial-guarded, its production defaults) inside this
 * process on the same table, called directly as a user's service would, no fleet and no hop.
 * Beside the direct cache-aside it prices the guard alone; beside the fleet, the hop.
 */
export async function createEmbeddedEngine(options: {
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  prefix: string;
  /** Lanes of the one engine: the same as the direct cache-aside's pool. */
  lanes: number;
  /** Group commit of a key's queued writes (the items entity option). @default false */
  groupCommit?: boolean;
  /** The engine's own chaos delays, for checked runs (then through the lab entry). */
  chaos?: { fillDelayMs: number; writeDelayMs: number };
}): Promise<EmbeddedEngine> {
  const base = {
    postgres: { connectionString: options.databaseUrl },
    redis: { url: options.redisUrl, keyPrefix: options.prefix },
    lanes: options.lanes,
  };
  const engine = options.chaos
    ? await createLabEngine({ ...base, strategy: 'serial-guarded', chaos: options.chaos })
    : await createEngine(base);
  const items = createItems(engine, { schema: options.schema, groupCommit: options.groupCommit ?? false });
  return {
    read: (key) => items.read(key),
    write: (key, value) => items.write(key, value),
    counters: (): Promise<EngineCounters> => {
      const s = engine.stats();
      const cpu = process.cpuUsage();
      return Promise.resolve({
        reads: s.reads,
        writes: items.stats().writes,
        hits: s.hits,
        misses: s.misses,
        coalesced: s.coalesced,
        dbReads: s.dbReads,
        fills: s.fills,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
      });
    },
    close: () => engine.close(),
  };
}
