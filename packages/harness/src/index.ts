export {
  createTestContext,
  deleteKeysContaining,
  errorText,
  type TestContext,
  type TestContextOptions,
} from './test-context.js';
export { startRedisServer, type RedisServerHandle } from './redis-server.js';
export {
  startRedisCluster,
  type ClusterNode,
  type RedisClusterHandle,
  type RedisClusterOptions,
} from './redis-cluster.js';
export { getFreePort } from './free-port.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { TEST_DATABASE_URL, TEST_REDIS_URL } from './env.js';
export {
  startProcess,
  startServiceBin,
  stopProcess,
  waitHttpOk,
  killAll,
  processAlive,
  parseJsonLines,
  type Proc,
  type ServiceProc,
} from './processes.js';
export {
  startPostgresPair,
  type PostgresPair,
  type PostgresPairOptions,
  type PostgresServer,
} from './postgres-replica.js';
export {
  ItemServer,
  sendError,
  sendJson,
  type Intercept,
  type ItemServerOptions,
} from './item-stand-in.js';
export {
  createScratchNames,
  dropScratch,
  resetScratch,
  deleteScratchKeys,
  type ScratchSpace,
} from './scratch.js';
