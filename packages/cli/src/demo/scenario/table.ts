import type { FaultPlan } from './fault-plans.js';
import { killOwnerOfHottestKey } from './fault-plans.js';

/** One instance of the fleet as a caller's client is told about it. */
export interface InstanceSpec {
  id: string;
  url: string;
}

/**
 * A scenario is data: the views of the fleet its callers' clients hold, and what happens to
 * the fleet while they run. Callers are spread over the views round-robin; the first view is
 * the full fleet, and a fault plan picks its victim through it.
 */
export interface Scenario {
  /** How the demo's report and chart name it. */
  readonly label: string;
  /** The instances each client sees, from the whole fleet's list (in instance order). */
  readonly views: readonly ((fleet: readonly InstanceSpec[]) => InstanceSpec[])[];
  /** A fault to inject during the run; without one the run is only as long as its traffic needs. */
  readonly during?: FaultPlan;
  /** The smallest fleet it means anything on. */
  readonly minInstances: number;
}

const wholeFleet = (fleet: readonly InstanceSpec[]): InstanceSpec[] => [...fleet];

/**
 * - `plain`: every caller sees all instances.
 * - `split-view`: half the callers see all instances, half see all but the first, as when
 *   health views disagree; modulo routing then sends many keys to two instances at once.
 * - `instance-loss`: the owner of the hottest key is SIGKILLed mid-run and restarted a little later.
 */
export type ScenarioName = 'plain' | 'split-view' | 'instance-loss';

export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  plain: { label: 'same workload', views: [wholeFleet], minInstances: 1 },
  'split-view': {
    label: 'split view',
    // Without the first instance: with modulo routing over 2 instead of 3, two thirds of the
    // keys go to a different instance than the full view sends them to, and so do all four hot
    // edge keys (without the last instance instead, 2^63-1 and 0 would land on the same
    // instance in both views, halving the contested traffic and the races).
    views: [wholeFleet, (fleet) => fleet.slice(1)],
    minInstances: 2,
  },
  'instance-loss': {
    label: 'instance loss',
    views: [wholeFleet],
    during: killOwnerOfHottestKey,
    minInstances: 2,
  },
};

/** In the order the demo's tables and chart show them. */
export const SCENARIO_NAMES = Object.keys(SCENARIOS) as readonly ScenarioName[];
