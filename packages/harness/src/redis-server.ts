import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { getFreePort } from './free-port.js';

/**
 * A private redis-server on its own port, for tests that stop and restart Redis without
 * taking the shared one away from other suites.
 */
export interface RedisServerHandle {
  readonly port: number;
  readonly url: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** Kills the server (SIGKILL: as abrupt as a crash). Its data is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

export async function startRedisServer(): Promise<RedisServerHandle> {
  const port = await getFreePort();
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    if (child) return;
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    child = proc;
    proc.once('exit', () => {
      if (child === proc) child = undefined;
    });
    const spawnError = once(proc, 'error').then(([err]: unknown[]) => {
      throw new Error(`could not start redis-server on port ${port}: ${String(err)}`);
    });
    await Promise.race([waitForPing(port), spawnError]);
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
  };
}

/** Resolves once a redis-server on `port` answers PING (5 s at most). */
export async function waitForPing(port: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const redis = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      await redis.ping();
      // QUIT, not disconnect(): disconnect() leaves ioredis' 2 s socket-destroy timer
      // running, which jest reports as an open handle.
      await redis.quit();
      return;
    } catch (err) {
      redis.disconnect();
      if (Date.now() > deadline) {
        throw new Error(`redis-server on port ${port} did not answer within 5 s`, { cause: err });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
