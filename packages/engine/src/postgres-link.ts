/** The part of a pino-style logger the engine writes to. */
export interface EngineLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

/**
 * Whether the engine can reach Postgres, as its lanes and probes last saw it. Only the
 * transitions are logged: one warn when Postgres is lost (with the first cause), one info when
 * it is back (with how long it was away), however many lanes and probes saw the outage.
 */
export class PostgresLink {
  private downSince: number | undefined;

  constructor(private readonly logger: EngineLogger | undefined) {}

  get up(): boolean {
    return this.downSince === undefined;
  }

  lost(cause: string, fields: Record<string, unknown> = {}): void {
    if (this.downSince !== undefined) return;
    this.downSince = Date.now();
    this.logger?.warn({ ...fields, cause }, 'postgres unreachable: lanes and readiness fail until it is back');
  }

  regained(seenBy: string): void {
    if (this.downSince === undefined) return;
    const downMs = Date.now() - this.downSince;
    this.downSince = undefined;
    this.logger?.info({ downMs, seenBy }, 'postgres reachable again');
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
