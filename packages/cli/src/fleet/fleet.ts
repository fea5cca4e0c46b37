import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StrategyName } from '@keylane/engine';
import { HEALTH_READY_PATH, InvalidOptionsError } from '@keylane/protocol';
// The config module alone: the launcher needs the variables, not the service (fastify, pino).
import { toEnvironment, type LogLevel } from '@keylane/item-service/config';
import { InstanceStartError } from './errors.js';
import { getFreePort } from '@keylane/harness';
import {
  FLEET_SERVICE_NAMES,
  FLEET_SERVICES,
  resolveServiceBin,
  type FleetService,
} from './service-bin.js';

/** Test-only fault injection passed to every instance (KEYLANE_ALLOW_CHAOS=1). */
export interface FleetChaos {
  /** Pause between a miss's DB read and its cache fill. */
  fillDelayMs?: number;
  /** Pause between a write's invalidation and its DB write. */
  writeDelayMs?: number;
}

/**
 * 80 ms between a miss's DB read and its fill, 10 ms between a write's invalidation and its
 * DB write; the same for every strategy.
 *
 * The fill delay is the window that matters most. cache-aside goes stale only when a write
 * commits and deletes while a miss's fill is in flight (miss reads the DB, the write commits
 * and DELs, the fill lands with the old value); misses happen only right after a DEL, so that
 * needs two writes on one key within about one fill delay. The write delay does not widen
 * that race at all (it comes before the commit), it only slows writes. At 30/30 the odds
 * therefore fell steeply with throughput: --quick runs (short, on cold fleets, beside the
 * next fleet's start-up, on a busy machine) caught cache-aside 0 to 8 times in 415
 * operations, where a full run at 3x the throughput caught it 627 times in 6,335. 80 ms
 * covers the gap between hot-key writes even at a busy machine's throughput.
 * invalidate-first's window (DEL .. commit) still gets 10 ms plus the DB write, and its
 * stale fill then stays until the next write, so it is caught anyway; serial under split
 * view races across fill delay + write delay, which grows from 60 to 90 ms. The serial
 * strategies' lanes hold both delays, so they get slower; the short write delay pays for
 * part of that.
 */
export const DEFAULT_CHAOS: Readonly<Required<FleetChaos>> = { fillDelayMs: 80, writeDelayMs: 10 };

export interface FleetOptions {
  /** Instances to start, ids `item-1` ... `item-N`. */
  count: number;
  /** @default the service's default ('serial-guarded') */
  strategy?: StrategyName;
  databaseUrl: string;
  redisUrl: string;
  /** Postgres schema all instances share (the service creates it if missing). */
  schema: string;
  /** Redis key prefix all instances share. */
  prefix: string;
  /** Interface the instances listen on. @default '127.0.0.1' */
  host?: string;
  /** Instance i listens on basePort + i; free ports are picked when absent. */
  basePort?: number;
  /**
   * Lanes per instance (KEYLANE_LANES). Each lane holds one Postgres connection for the
   * instance's life, so this default is well below the service's 16: a 3-instance fleet then
   * holds 3 x (4 lanes + up to 2 pooled; up to 4 for the unserialized baselines) = 18 to 24
   * connections instead of 54 to 96, and fits beside test suites on a Postgres with
   * max_connections = 100. @default DEFAULT_FLEET_OPTIONS.lanes (4)
   */
  lanes?: number;
  /** KEYLANE_LOG_LEVEL of every instance. @default 'warn' */
  logLevel?: LogLevel;
  chaos?: FleetChaos;
  /** More environment for every instance (e.g. KEYLANE_DRAIN_MS); wins over the above. */
  env?: Readonly<Record<string, string>>;
  /** How long an instance may take to answer 200 on /healthz/ready. @default 30_000 */
  readyTimeoutMs?: number;
  /** How long a stopping instance gets after SIGTERM before SIGKILL. @default 15_000 */
  stopGraceMs?: number;
  /** Which service the instances run (ids `item-N` or `cart-N`). @default 'items' */
  service?: FleetService;
  /** The service entry script. @default the bin of `service`'s package */
  serviceBin?: string;
  /** Every line an instance writes (stdout and stderr). */
  onOutput?: (instanceId: string, line: string) => void;
  /** An instance exited; `expected` is false when nobody asked it to. */
  onExit?: (
    instanceId: string,
    info: { code: number | null; signal: NodeJS.Signals | null; expected: boolean },
  ) => void;
}

export const DEFAULT_FLEET_OPTIONS = {
  host: '127.0.0.1',
  lanes: 4,
  logLevel: 'warn',
  readyTimeoutMs: 30_000,
  stopGraceMs: 15_000,
} as const;

export interface FleetInstance {
  readonly id: string;
  readonly url: string;
  readonly port: number;
  /** The current process id (changes on restart); undefined while not running. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The last lines it wrote, for error messages. */
  outputTail(): string;
}

export interface Fleet {
  readonly instances: readonly FleetInstance[];
  instance(id: string): FleetInstance;
  /**
   * Sends `signal` (default SIGKILL, a crash). For SIGKILL, SIGTERM and SIGINT it resolves once
   * the process has exited; other signals (SIGSTOP, SIGCONT) resolve once sent.
   */
  kill(id: string, signal?: NodeJS.Signals): Promise<void>;
  /** Stops the instance if it runs, starts it again on the same port, waits until ready. */
  restart(id: string): Promise<void>;
  /** SIGTERM to all, SIGKILL after the grace; resolves when every process has exited. */
  stop(): Promise<void>;
}

const OUTPUT_TAIL_LINES = 40;
const TERMINATING = new Set<NodeJS.Signals>(['SIGKILL', 'SIGTERM', 'SIGINT']);

/** Starts `count` processes of the service (the item service unless `service` says) and waits until every one is ready. */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  validateFleetOptions(options);
  const host = options.host ?? DEFAULT_FLEET_OPTIONS.host;
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_FLEET_OPTIONS.readyTimeoutMs;
  const stopGraceMs = options.stopGraceMs ?? DEFAULT_FLEET_OPTIONS.stopGraceMs;
  const service = options.service ?? 'items';
  const bin = options.serviceBin ?? resolveServiceBin(service);

  const instances: ManagedInstance[] = [];
  for (let i = 0; i < options.count; i += 1) {
    const port = options.basePort === undefined ? await getFreePort(host) : options.basePort + i;
    const id = `${FLEET_SERVICES[service].idPrefix}-${i + 1}`;
    instances.push(
      new ManagedInstance(id, host, port, bin, serviceEnv(options, id, host, port), options),
    );
  }

  const stop = async (): Promise<void> => {
    await Promise.all(instances.map((instance) => instance.stop(stopGraceMs)));
  };
  try {
    for (const instance of instances) instance.spawn();
    await Promise.all(instances.map((instance) => instance.waitReady(readyTimeoutMs)));
  } catch (err) {
    await stop();
    throw err;
  }

  const byId = (id: string): ManagedInstance => {
    const found = instances.find((instance) => instance.id === id);
    if (!found)
      throw new InvalidOptionsError(
        'id',
        `no instance "${id}" in this fleet (${instances.map((i) => i.id).join(', ')})`,
      );
    return found;
  };
  return {
    instances,
    instance: byId,
    async kill(id, signal = 'SIGKILL') {
      const instance = byId(id);
      if (TERMINATING.has(signal)) await instance.stop(stopGraceMs, signal);
      else instance.signal(signal);
    },
    async restart(id) {
      const instance = byId(id);
      await instance.stop(stopGraceMs);
      instance.spawn();
      try {
        await instance.waitReady(readyTimeoutMs);
      } catch (err) {
        await instance.stop(stopGraceMs);
        throw err;
      }
    },
    stop,
  };
}

function validateFleetOptions(options: FleetOptions): void {
  if (options.service !== undefined && !Object.hasOwn(FLEET_SERVICES, options.service)) {
    throw new InvalidOptionsError(
      'service',
      `unknown service "${String(options.service)}"; expected ${FLEET_SERVICE_NAMES.join(', ')}`,
    );
  }
  if (!Number.isInteger(options.count) || options.count < 1 || options.count > 64) {
    throw new InvalidOptionsError('count', `must be an integer in [1, 64], got ${options.count}`);
  }
  if (options.basePort !== undefined) {
    const last = options.basePort + options.count - 1;
    if (!Number.isInteger(options.basePort) || options.basePort < 1 || last > 65_535) {
      throw new InvalidOptionsError(
        'basePort',
        `must be an integer with basePort + count - 1 <= 65535, got ${options.basePort}`,
      );
    }
  }
  for (const name of ['databaseUrl', 'redisUrl', 'schema', 'prefix'] as const) {
    if (typeof options[name] !== 'string' || options[name] === '') {
      throw new InvalidOptionsError(name, 'must be a non-empty string');
    }
  }
  for (const name of ['fillDelayMs', 'writeDelayMs'] as const) {
    const value = options.chaos?.[name];
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw new InvalidOptionsError(
        `chaos.${name}`,
        `must be a non-negative integer, got ${value}`,
      );
    }
  }
}

/**
 * The instance's environment. The service is configured by environment only, and its
 * `toEnvironment` writes the variables: their names and formats live in the service alone.
 */
function serviceEnv(
  options: FleetOptions,
  id: string,
  host: string,
  port: number,
): NodeJS.ProcessEnv {
  // Inherit PATH, NODE_OPTIONS and the like, but not a stray KEYLANE_* from the caller's shell:
  // every instance of a fleet must get exactly the configuration given here.
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('KEYLANE_')),
  );
  const chaos = options.chaos ?? {};
  const chaotic = chaos.fillDelayMs !== undefined || chaos.writeDelayMs !== undefined;
  Object.assign(
    env,
    toEnvironment({
      port,
      host,
      instanceId: id,
      databaseUrl: options.databaseUrl,
      dbSchema: options.schema,
      redisUrl: options.redisUrl,
      cachePrefix: options.prefix,
      logLevel: options.logLevel ?? DEFAULT_FLEET_OPTIONS.logLevel,
      lanes: options.lanes ?? DEFAULT_FLEET_OPTIONS.lanes,
      // The launcher runs the demo and the bench: the baselines are what it compares.
      ...(options.strategy !== undefined
        ? { strategy: options.strategy, allowBaselines: options.strategy !== 'serial-guarded' || undefined }
        : {}),
      ...(chaotic
        ? { allowChaos: true, chaosFillDelayMs: chaos.fillDelayMs, chaosWriteDelayMs: chaos.writeDelayMs }
        : {}),
    }),
    options.env,
  );
  return env;
}

class ManagedInstance implements FleetInstance {
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private stopping = false;
  private readonly tail: string[] = [];
  private partial = '';

  constructor(
    readonly id: string,
    private readonly host: string,
    readonly port: number,
    private readonly bin: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly hooks: Pick<FleetOptions, 'onOutput' | 'onExit'>,
  ) {
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  outputTail(): string {
    return [...this.tail, ...(this.partial ? [this.partial] : [])].join('\n');
  }

  spawn(): void {
    if (this.child) return;
    this.stopping = false;
    this.exitInfo = undefined;
    // Own process group: a Ctrl-C in the terminal reaches only the launcher, which then stops
    // the instances once, in order. (Sent to the whole group, the service would see SIGINT
    // and then the launcher's SIGTERM, and treat the second signal as "exit now".)
    const child = spawn(process.execPath, [this.bin], {
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    liveChildren.add(child);
    installExitGuard();
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.collect(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.collect(chunk));
    this.exited = new Promise((resolve) => {
      // 'close' (not 'exit'): by then stdout/stderr are drained, so the tail is complete.
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        liveChildren.delete(child);
        if (this.child === child) this.child = undefined;
        this.exitInfo = { code, signal };
        this.hooks.onExit?.(this.id, { code, signal, expected: this.stopping });
        resolve();
      });
    });
    child.once('error', (err) => this.collect(`spawn failed: ${String(err)}\n`));
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Sends `signal` (SIGTERM by default), escalates to SIGKILL after the grace, waits for exit. */
  async stop(graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return this.exited;
    this.stopping = true;
    child.kill(signal);
    if (signal !== 'SIGKILL') {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        await this.exited;
      } finally {
        clearTimeout(timer);
      }
      return;
    }
    await this.exited;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastProblem = 'no answer yet';
    for (;;) {
      if (!this.child) {
        const info = this.exitInfo;
        const how = info?.signal ? `signal ${info.signal}` : `code ${info?.code ?? 'unknown'}`;
        throw new InstanceStartError(
          this.id,
          `${this.id} exited with ${how} before it was ready`,
          this.outputTail(),
        );
      }
      const status = await probe(this.host, this.port, HEALTH_READY_PATH, 1_000).catch(
        (err: unknown) => {
          lastProblem = String(err);
          return 0;
        },
      );
      if (status === 200) return;
      if (status !== 0) lastProblem = `GET ${HEALTH_READY_PATH} answered ${status}`;
      if (Date.now() > deadline) {
        throw new InstanceStartError(
          this.id,
          `${this.id} was not ready at ${this.url} within ${timeoutMs} ms (${lastProblem})`,
          this.outputTail(),
        );
      }
      await sleep(100);
    }
  }

  private collect(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      this.tail.push(line);
      if (this.tail.length > OUTPUT_TAIL_LINES) this.tail.shift();
      this.hooks.onOutput?.(this.id, line);
    }
  }
}

/** GET without keep-alive, so no socket outlives the probe. Resolves with the status code. */
function probe(host: string, port: number, path: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, method: 'GET', agent: false, timeout: timeoutMs },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', reject);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

// Instances must not outlive the launcher, even when it exits through an uncaught exception:
// the 'exit' handler runs synchronously and can still SIGKILL them.
const liveChildren = new Set<ChildProcess>();
let exitGuardInstalled = false;
function installExitGuard(): void {
  if (exitGuardInstalled) return;
  exitGuardInstalled = true;
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}
