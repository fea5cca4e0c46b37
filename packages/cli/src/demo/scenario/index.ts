// A demo scenario is a row of SCENARIOS (table.ts): the views its callers hold and the fault
// injected during the run. fleet.ts starts a fleet for runs, run.ts drives one run, verify.ts
// checks what it recorded.
export {
  SCENARIOS,
  SCENARIO_NAMES,
  type InstanceSpec,
  type Scenario,
  type ScenarioName,
} from './table.js';
export {
  killOwnerOfHottestKey,
  type FaultEvents,
  type FaultPlan,
  type FaultTiming,
} from './fault-plans.js';
export {
  runScenario,
  startScenarioFleet,
  type ScenarioFleet,
  type ScenarioFleetOptions,
  type ScenarioOptions,
} from './fleet.js';
export { type ScenarioProgress, type ScenarioRunOptions } from './run.js';
export {
  analyzeRun,
  verifyRun,
  type Inspect,
  type RunVerdict,
  type ScenarioResult,
} from './verify.js';
