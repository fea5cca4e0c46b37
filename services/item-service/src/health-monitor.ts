import type { Engine, EngineHealth } from '@keylane/engine';
import type { Logger } from 'pino';

/** One dependency as the monitor last saw it. */
export interface DependencyState {
  up: boolean;
  /** Since when it has been down (epoch ms), or null while up. */
  downSince: number | null;
}

export interface HealthSnapshot {
  postgres: DependencyState;
  redis: DependencyState;
  problems: string[];
  /** When the last check finished (epoch ms); 0 before the first. */
  checkedAt: number;
}

export interface HealthMonitorOptions {
  engine: Engine;
  logger: Logger;
  /** Between two checks. */
  intervalMs: number;
}

/**
 * Checks Postgres and Redis in the background and keeps the answer, so readiness answers from
 * state (no round trip per probe, however many callers probe) and a dependency's flap is seen
 * with its duration. Logs Redis' loss (warn) and return (info, with how long it was gone) once
 * per outage; the engine itself logs Postgres' (its lanes see it first).
 */
export class HealthMonitor {
  #snapshot: HealthSnapshot = {
    postgres: { up: true, downSince: null },
    redis: { up: true, downSince: null },
    problems: [],
    checkedAt: 0,
  };
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(private readonly options: HealthMonitorOptions) {}

  get snapshot(): HealthSnapshot {
    return this.#snapshot;
  }

  /** Runs a first check now, then one every intervalMs until stop(). */
  async start(): Promise<void> {
    await this.check();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One check, now. */
  async check(): Promise<HealthSnapshot> {
    const health = await this.options.engine.health();
    this.#apply(health, Date.now());
    return this.#snapshot;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.check()
        .then(() => undefined, () => undefined)
        .finally(() => this.#schedule());
    }, this.options.intervalMs);
    this.#timer.unref();
  }

  #apply(health: EngineHealth, now: number): void {
    const previous = this.#snapshot;
    const next = (name: 'postgres' | 'redis', up: boolean): DependencyState => {
      const was = previous[name];
      if (name !== 'redis') {
        // Logged by the engine.
      } else if (up && !was.up) {
        this.options.logger.info({ dependency: name, downMs: now - (was.downSince ?? now) }, `${name} reachable again`);
      } else if (!up && was.up) {
        this.options.logger.warn({ dependency: name, problems: health.problems }, `${name} unreachable`);
      }
      return up ? { up: true, downSince: null } : { up: false, downSince: was.downSince ?? now };
    };
    this.#snapshot = {
      postgres: next('postgres', health.postgres),
      redis: next('redis', health.redis),
      problems: health.problems,
      checkedAt: now,
    };
  }
}
