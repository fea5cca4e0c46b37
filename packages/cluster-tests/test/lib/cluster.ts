import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HEALTH_READY_PATH } from '@keylane/protocol';

const exec = promisify(execFile);

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
/** The one place that knows how to install, build and start the cluster. */
export const CLUSTER_SCRIPT = join(REPO_ROOT, 'docker/testing/cluster.sh');

/** The item-service entries of docker/compose.yaml and the loopback ports they publish. */
export const ITEM_SERVICES = ['item-1', 'item-2', 'item-3'] as const;
export type ItemService = (typeof ITEM_SERVICES)[number];
export type Service = ItemService | 'postgres' | 'redis' | 'example-caller';

/** What `cluster.sh info` prints: the client, its config folder and the compose files. */
interface ClusterInfo {
  project: string;
  docker: string;
  dockerConfig: string;
  composeFiles: string[];
}

export class CommandError extends Error {
  readonly code = 'command_failed';
  constructor(
    readonly command: string,
    readonly stderr: string,
    /** The command's exit status (null: killed or not started). */
    readonly exitCode: number | null,
  ) {
    super(`${command} failed: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
  }
}

async function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await exec(file, [...args], { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const { stderr, code } = err as { stderr?: string; code?: unknown };
    throw new CommandError(`${file} ${args.join(' ')}`, stderr ?? String(err), typeof code === 'number' ? code : null);
  }
}

/**
 * The compose cluster of docker/testing: start it with the script, then drive its containers
 * with the same docker client and compose files the script uses (read once from `info`).
 */
export class Cluster {
  private readonly itemUrls = new Map<ItemService, string>();
  private readonly containerIds = new Map<Service, string>();

  private constructor(
    readonly unsafe: boolean,
    private readonly info: ClusterInfo,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Brings the cluster up (installing and building whatever is missing) and returns it. */
  static async up(options: { unsafe?: boolean } = {}): Promise<Cluster> {
    const unsafe = options.unsafe ?? false;
    const env = { ...process.env, KEYLANE_CLUSTER_UNSAFE: unsafe ? '1' : '0' };
    await run('bash', [CLUSTER_SCRIPT, 'up'], env, 15 * 60_000);
    const info = JSON.parse(await run('bash', [CLUSTER_SCRIPT, 'info'], env, 10_000)) as ClusterInfo;
    return new Cluster(unsafe, info, { ...env, DOCKER_CONFIG: info.dockerConfig });
  }

  /** Removes the cluster's containers and volumes (images stay). */
  async down(): Promise<void> {
    await run('bash', [CLUSTER_SCRIPT, 'down'], this.env, 120_000);
  }

  docker(args: readonly string[], timeoutMs = 60_000): Promise<string> {
    return run(this.info.docker, args, this.env, timeoutMs);
  }

  /**
   * Builds a program's image as the script does (same build args, CA secret, base image),
   * with extra `docker build` arguments; `stdin` is sent to the build (for `-f -`).
   */
  async build(program: 'item-service' | 'example-caller', args: readonly string[], stdin?: string): Promise<string> {
    const child = exec('bash', [CLUSTER_SCRIPT, 'build', program, ...args], { env: this.env, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
    child.child.stdin?.end(stdin ?? '');
    try {
      return (await child).stdout;
    } catch (err) {
      const { stderr, code } = err as { stderr?: string; code?: unknown };
      throw new CommandError(`cluster.sh build ${program} ${args.join(' ')}`, stderr ?? String(err), typeof code === 'number' ? code : null);
    }
  }

  compose(args: readonly string[], timeoutMs = 120_000): Promise<string> {
    const files = this.info.composeFiles.flatMap((file) => ['-f', file]);
    return run(this.info.docker, ['compose', '-p', this.info.project, ...files, ...args], this.env, timeoutMs);
  }

  /** A container keeps its id through kill, start, stop, restart and pause: looked up once. */
  async containerId(service: Service): Promise<string> {
    let id = this.containerIds.get(service);
    if (id === undefined) {
      id = (await this.compose(['ps', '-a', '-q', service])).trim();
      if (id === '') throw new Error(`no container for service ${service}`);
      this.containerIds.set(service, id);
    }
    return id;
  }

  /** `127.0.0.1:PORT` that a container port is published on (it changes when the container restarts). */
  async published(service: Service, port: number): Promise<{ host: string; port: number }> {
    const out = (await this.compose(['port', service, String(port)])).trim();
    const match = /^(.+):(\d+)$/.exec(out);
    if (!match?.[1] || !match[2]) throw new Error(`${service}:${port} is not published (compose port said ${JSON.stringify(out)})`);
    return { host: match[1], port: Number(match[2]) };
  }

  /** The instance's URL on the host; compose.yaml publishes fixed ports, so it is looked up once. */
  async itemUrl(service: ItemService): Promise<string> {
    let url = this.itemUrls.get(service);
    if (url === undefined) {
      const { host, port } = await this.published(service, 8080);
      url = `http://${host}:${port}`;
      this.itemUrls.set(service, url);
    }
    return url;
  }

  async databaseUrl(): Promise<string> {
    const { host, port } = await this.published('postgres', 5432);
    return `postgres://keylane:keylane@${host}:${port}/keylane`;
  }

  async redisUrl(): Promise<string> {
    const { host, port } = await this.published('redis', 6379);
    return `redis://${host}:${port}`;
  }

  async inspect(service: Service, format: string): Promise<string> {
    return (await this.docker(['inspect', '-f', format, await this.containerId(service)])).trim();
  }

  /** The container's address on the compose network (what other containers connect to). */
  async address(service: Service): Promise<string> {
    const ip = await this.inspect(service, '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}');
    const first = ip.split(' ')[0];
    if (!first) throw new Error(`${service} has no network address`);
    return first;
  }

  async kill(service: Service): Promise<void> {
    await this.docker(['kill', '--signal', 'KILL', await this.containerId(service)]);
  }

  /** After `docker kill` the restart policy does not restart it: start it by hand. */
  async start(service: Service): Promise<void> {
    await this.docker(['start', await this.containerId(service)]);
  }

  /** SIGTERM, then up to `graceSeconds` for the drain before SIGKILL. */
  async stop(service: Service, graceSeconds: number): Promise<void> {
    await this.docker(['stop', '--time', String(graceSeconds), await this.containerId(service)], (graceSeconds + 30) * 1000);
  }

  async restart(service: Service): Promise<void> {
    await this.docker(['restart', '--time', '10', await this.containerId(service)]);
  }

  async pause(service: Service): Promise<void> {
    await this.docker(['pause', await this.containerId(service)]);
  }

  async unpause(service: Service): Promise<void> {
    await this.docker(['unpause', await this.containerId(service)]);
  }

  /**
   * Runs iptables commands inside the container's network namespace (the container has no
   * iptables of its own), in one shell so a fault lands at once. Rules live in two chains of
   * our own, KL_IN and KL_OUT, so healing is removing them.
   */
  private async iptables(service: Service, commands: readonly string[]): Promise<void> {
    const pid = await this.inspect(service, '{{.State.Pid}}');
    const script = commands.map((c) => `iptables -w ${c}`).join('\n');
    await run('nsenter', ['-t', pid, '-n', 'sh', '-ec', script], this.env, 30_000);
  }

  private static readonly HEAL = [
    '-D INPUT -j KL_IN 2>/dev/null || true',
    '-D OUTPUT -j KL_OUT 2>/dev/null || true',
    '-F KL_IN 2>/dev/null || true',
    '-F KL_OUT 2>/dev/null || true',
    '-X KL_IN 2>/dev/null || true',
    '-X KL_OUT 2>/dev/null || true',
  ];

  private async block(service: Service, inbound: readonly string[], outbound: readonly string[]): Promise<void> {
    await this.iptables(service, [
      ...Cluster.HEAL,
      '-N KL_IN',
      '-N KL_OUT',
      ...inbound.map((rule) => `-A KL_IN ${rule}`),
      ...outbound.map((rule) => `-A KL_OUT ${rule}`),
      '-I INPUT -j KL_IN',
      '-I OUTPUT -j KL_OUT',
    ]);
  }

  /**
   * Cuts the container off from everything but its own loopback, where Docker's DNS
   * (127.0.0.11) answers: names still resolve, no packet leaves or arrives.
   */
  async partition(service: Service): Promise<void> {
    await this.block(service, ['-i lo -j RETURN', '-j DROP'], ['-o lo -j RETURN', '-j DROP']);
  }

  /** Drops every packet between the container and `peer`; everything else flows. */
  async cutFrom(service: Service, peer: Service): Promise<void> {
    const ip = await this.address(peer);
    await this.block(service, [`-s ${ip} -j DROP`], [`-d ${ip} -j DROP`]);
  }

  /** Removes whatever partition() or cutFrom() put in place; harmless when there is none. */
  async heal(service: Service): Promise<void> {
    await this.iptables(service, Cluster.HEAL);
  }

  /** Waits until the instance answers readiness 200 on its published port. */
  async waitReady(service: ItemService, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const url = await this.itemUrl(service);
        const res = await fetch(`${url}${HEALTH_READY_PATH}`, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) return;
        last = `status ${res.status}: ${await res.text()}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await sleep(100);
    }
    throw new Error(`${service} did not become ready within ${timeoutMs} ms (last: ${last})`);
  }

  async waitAllReady(timeoutMs = 60_000): Promise<void> {
    await Promise.all(ITEM_SERVICES.map((s) => this.waitReady(s, timeoutMs)));
  }

  /** The service's log lines (stdout and stderr) between two instants. */
  async logs(service: Service, since: Date, until?: Date): Promise<string[]> {
    const args = ['logs', '--since', since.toISOString()];
    if (until) args.push('--until', until.toISOString());
    const out = await this.docker([...args, await this.containerId(service)]);
    return out.split('\n').filter((line) => line.length > 0);
  }
}
