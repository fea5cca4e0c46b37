// The launcher and the workload, for the suites that start fleets (deploy-tests, package-tests,
// cluster-tests) as the commands do.
export * from './fleet/index.js';
export * from './workload/index.js';
export {
  findLostAckedWrites,
  percentile,
  summarizeFault,
  summarizeLatency,
  type FaultSummary,
  type LatencySummary,
  type LostWrite,
} from './demo/analysis.js';
export {
  runScenario,
  startScenarioFleet,
  SCENARIOS,
  SCENARIO_NAMES,
  killOwnerOfHottestKey,
  type FaultPlan,
  type FaultTiming,
  type Scenario,
  type ScenarioFleet,
  type ScenarioFleetOptions,
  type ScenarioRunOptions,
  type ScenarioName,
  type ScenarioOptions,
  type ScenarioProgress,
  type ScenarioResult,
  verifyRun,
  type Inspect,
  type RunVerdict,
} from './demo/scenario/index.js';
export {
  runDemo,
  DEFAULT_DEMO_SEED,
  DEMO_TIMINGS,
  EMBEDDED_PROCESSES,
  type DemoOptions,
} from './demo/demo.js';
export { runEmbedded, type EmbeddedReplica, type EmbeddedRunOptions } from './demo/embedded.js';
export type { RedisClusterNode } from './demo/redis-target.js';
export {
  DEMO_ENTITIES,
  entityAdapter,
  REGISTER_SKU,
  type DemoEntity,
  type EntityAdapter,
} from './demo/entities.js';
export {
  evaluateClaims,
  renderReport,
  renderScenarioTable,
  renderStrategyTable,
  type DemoClaims,
  DEPLOYMENTS,
  type DemoConfig,
  type Deployment,
  type DemoReport,
} from './demo/report.js';
export { clientSnippet, runUp, type UpOptions } from './fleet/up.js';
export { createProgram, main, usageHint } from './program.js';
export {
  renderDemoChart,
  writeDemoOutputs,
  DEFAULT_DEMO_OUT_DIR,
  type DemoFiles,
} from './demo/output.js';
export { VERSION } from './version.js';
