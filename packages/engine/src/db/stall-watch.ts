import pg from 'pg';
import type { Lane } from './lane.js';

/**
 * A lane waiting this long for any answer gets its backend looked at. Well above a healthy
 * round trip and a single-row statement, well below the ~10 s a socket in TCP retransmission
 * backoff can sit after the network came back.
 */
export const STALL_AFTER_MS = 2_000;
/** How often the watch looks for stalled lanes; also the probe's own connect/answer bound. */
export const STALL_CHECK_MS = 1_000;
const PROBE_TIMEOUT_MS = 2_000;

export interface StallVerdict {
  lane: Lane;
  /** How long the lane had waited for its answer. */
  waitedMs: number;
  /** Why the connection was given up on. */
  reason: string;
}

interface BackendRow {
  pid: number;
  state: string | null;
  idle_ms: number;
}

/**
 * Finds lanes whose connection is dead though Postgres is reachable: after a partition heals,
 * a socket that sent its statement into the void waits for the kernel's next retransmission
 * (seconds, growing), while a fresh connection works at once. One short-lived probe connection
 * asks pg_stat_activity about each stalled lane's backend: still running the statement means
 * it is merely slow (left alone); gone, or idle since well before the lane started waiting, means
 * the statement or its answer was lost: the backend is terminated (its slot freed, anything it
 * holds released) and the lane drops the socket, so its next job reconnects.
 */
export class StallWatch {
  private timer: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    private readonly lanes: readonly Lane[],
    private readonly postgres: pg.ClientConfig,
    private readonly onDead: (verdict: StallVerdict) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), STALL_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One round; exported through the lane set for tests. Never throws. */
  async check(): Promise<void> {
    if (this.probing) return;
    const now = Date.now();
    const stalled = this.lanes.filter((lane) => lane.stalled(now, STALL_AFTER_MS) && lane.backendPid !== null);
    if (stalled.length === 0) return;
    this.probing = true;
    const probe = new pg.Client({ ...this.postgres, connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      const pids = stalled.map((lane) => lane.backendPid as number);
      // Durations on the server's clock only: no skew between this host and Postgres matters.
      const { rows } = await probe.query<BackendRow>(
        `SELECT pid, state, (extract(epoch FROM clock_timestamp() - state_change) * 1000)::float8 AS idle_ms
           FROM pg_stat_activity WHERE pid = ANY($1::int[])`,
        [pids],
      );
      const checkedAt = Date.now();
      for (const lane of stalled) {
        const pid = lane.backendPid as number;
        const waitedMs = lane.waitingMs(checkedAt);
        const row = rows.find((r) => r.pid === pid);
        if (row?.state === 'active') {
          lane.confirmActive(checkedAt);
          continue;
        }
        // Idle for less than half the stall bound: it may have answered just now, look again later.
        if (row && row.idle_ms < STALL_AFTER_MS / 2) continue;
        const reason = row
          ? `its backend (pid ${pid}) has been ${row.state ?? 'idle'} for ${Math.round(row.idle_ms)} ms: the statement or its answer was lost`
          : `its backend (pid ${pid}) no longer exists`;
        if (row) await probe.query('SELECT pg_terminate_backend($1)', [pid]).catch(() => undefined);
        lane.dropConnection();
        this.onDead({ lane, waitedMs, reason });
      }
    } catch {
      // Postgres unreachable from a fresh connection too: nothing to tell apart yet; readiness
      // already says so. The next round tries again.
    } finally {
      this.probing = false;
      await probe.end().catch(() => undefined);
    }
  }
}
