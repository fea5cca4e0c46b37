import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { getFreePort } from './free-port.js';

const run = promisify(execFile);

/** One private postgres server of a primary/standby pair. */
export interface PostgresServer {
  readonly port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** Fast shutdown (SIGINT): connections are cut, the data directory stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory (a standby resumes streaming). */
  start(): Promise<void>;
}

export interface PostgresPair {
  readonly primary: PostgresServer;
  /** A streaming standby made by `pg_basebackup -R` from the primary. */
  readonly replica: PostgresServer;
  /** Stops both servers and removes their data directories. */
  dispose(): Promise<void>;
}

export interface PostgresPairOptions {
  /**
   * The standby's `recovery_min_apply_delay`: it applies each commit this long after the
   * primary made it, so replica lag is real and large rather than a loopback race.
   * @default 0
   */
  applyDelayMs?: number;
}

/**
 * A private primary (`initdb` in a scratch directory) and a streaming standby of it, each on
 * its own loopback port, for tests of reads served by a replica. The shared server on 5432
 * is left alone: its pg_hba allows no replication connections, and a test must be able to
 * stop and restart the standby.
 *
 * Postgres refuses to run as root, so as root the servers run as the `postgres` user.
 */
export async function startPostgresPair(options: PostgresPairOptions = {}): Promise<PostgresPair> {
  const applyDelayMs = options.applyDelayMs ?? 0;
  if (!Number.isInteger(applyDelayMs) || applyDelayMs < 0) throw new RangeError(`applyDelayMs: expected an integer >= 0, got ${applyDelayMs}`);
  const bin = postgresBinDir();
  const owner = serverUser();
  const root = mkdtempSync(join(tmpdir(), 'keylane-pg-'));
  const servers: ServerProcess[] = [];
  const dispose = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    if (owner) chownSync(root, owner.uid, owner.gid);
    const [primaryPort, replicaPort] = [await getFreePort(), await getFreePort()];
    const primaryDir = join(root, 'primary');
    await run(join(bin, 'initdb'), ['-D', primaryDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'], spawnOptions(owner));
    // fsync off: these servers hold nothing worth a crash; the suites want speed.
    appendFileSync(
      join(primaryDir, 'postgresql.conf'),
      conf({
        port: primaryPort,
        listen_addresses: "'127.0.0.1'",
        unix_socket_directories: `'${root}'`,
        wal_level: 'replica',
        max_wal_senders: 4,
        max_connections: 60,
        fsync: 'off',
        synchronous_commit: 'on',
        full_page_writes: 'off',
        shared_buffers: "'32MB'",
      }),
    );
    const primary = new ServerProcess(bin, primaryDir, primaryPort, owner);
    servers.push(primary);
    await primary.start();

    const replicaDir = join(root, 'replica');
    await run(
      join(bin, 'pg_basebackup'),
      ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', replicaDir, '-R', '-X', 'stream', '--no-sync'],
      spawnOptions(owner),
    );
    appendFileSync(
      join(replicaDir, 'postgresql.conf'),
      conf({
        port: replicaPort,
        hot_standby: 'on',
        recovery_min_apply_delay: `'${applyDelayMs}ms'`,
        // Reads on the standby should not be cancelled by replay conflicts mid-test, nor hold
        // replay back for long: a conflict waits this long, then cancels the standby query.
        max_standby_streaming_delay: "'5s'",
        hot_standby_feedback: 'on',
        wal_receiver_status_interval: "'100ms'",
      }),
    );
    const replica = new ServerProcess(bin, replicaDir, replicaPort, owner);
    servers.push(replica);
    await replica.start();
    return { primary: primary.handle(), replica: replica.handle(), dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

class ServerProcess {
  private child: ChildProcess | undefined;
  private readonly log: string[] = [];

  constructor(
    private readonly bin: string,
    private readonly dir: string,
    readonly port: number,
    private readonly owner: Owner | undefined,
  ) {}

  handle(): PostgresServer {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the handle's getter reads the live process
    const self = this;
    return {
      port: this.port,
      url: `postgres://postgres@127.0.0.1:${this.port}/postgres`,
      get running() {
        return self.child !== undefined;
      },
      start: () => this.start(),
      stop: () => this.stop(),
    };
  }

  async start(): Promise<void> {
    if (this.child) return;
    // A server killed earlier may have left its pid file; postgres checks the pid itself.
    const proc = spawn(join(this.bin, 'postgres'), ['-D', this.dir], { ...spawnOptions(this.owner), stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = proc;
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.log.push(chunk);
      if (this.log.length > 200) this.log.shift();
    });
    proc.once('exit', () => {
      if (this.child === proc) this.child = undefined;
    });
    const failed = once(proc, 'exit').then(() => {
      throw new Error(`postgres on port ${this.port} exited at start:\n${this.log.join('')}`);
    });
    await Promise.race([this.waitReady(), failed]);
  }

  async stop(): Promise<void> {
    const proc = this.child;
    if (!proc) return;
    this.child = undefined;
    const exited = once(proc, 'exit');
    proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1_000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch (err) {
        await client.end().catch(() => undefined);
        if (Date.now() > deadline) throw new Error(`postgres on port ${this.port} did not accept connections within 30 s:\n${this.log.join('')}`, { cause: err });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

interface Owner {
  uid: number;
  gid: number;
}

function spawnOptions(owner: Owner | undefined): { uid?: number; gid?: number; env: NodeJS.ProcessEnv } {
  // LC_ALL=C: initdb picks no locale from a test's environment.
  const env = { PATH: process.env['PATH'] ?? '', LC_ALL: 'C' };
  return owner ? { uid: owner.uid, gid: owner.gid, env } : { env };
}

/** As root, the `postgres` user (from /etc/passwd); otherwise the current user runs the servers. */
function serverUser(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readPasswd().find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('running as root, but there is no postgres user to run the test servers as');
  return { uid: Number(uid), gid: Number(gid) };
}

function readPasswd(): string[] {
  return existsSync('/etc/passwd') ? readFileSync('/etc/passwd', 'utf8').split('\n') : [];
}

/** KEYLANE_PG_BINDIR, else the newest /usr/lib/postgresql/<version>/bin (Debian's layout). */
function postgresBinDir(): string {
  const fromEnv = process.env['KEYLANE_PG_BINDIR'];
  if (fromEnv) return fromEnv;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => join(base, v, 'bin')).find((dir) => existsSync(join(dir, 'initdb')));
  if (!found) throw new Error('no initdb found under /usr/lib/postgresql/<version>/bin; set KEYLANE_PG_BINDIR');
  return found;
}

function conf(settings: Record<string, string | number>): string {
  return `\n# keylane harness\n${Object.entries(settings)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n')}\n`;
}
