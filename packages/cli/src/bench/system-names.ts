import type { StrategyName } from '@keylane/engine';
import type { BentocacheSetup } from './bentocache-target.js';

/** The name of the in-process cache-aside in tables and charts. */
export const DIRECT = 'direct cache-aside';
/** The name of the engine embedded in the bench process (serial-guarded, no fleet). */
export const EMBEDDED = 'embedded serial-guarded';
/** The names of bentocache's two setups (a peer: the library users pick instead). */
export const BENTOCACHE = {
  l2: 'bentocache (Redis)',
  'l1-l2-bus': 'bentocache (L1 + Redis + bus)',
} as const satisfies Record<BentocacheSetup, string>;
export type BentocacheName = (typeof BENTOCACHE)[BentocacheSetup];
/** Systems that run in the bench process, beside the fleet's strategies. */
export type InProcessName = typeof DIRECT | typeof EMBEDDED | BentocacheName;
/** A strategy through a fleet, or a system in the bench process. */
export type SystemName = StrategyName | InProcessName;
