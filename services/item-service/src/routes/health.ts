import type { Engine } from '@keylane/engine';
import { errorBody, HEALTH_LIVE_PATH, HEALTH_READY_PATH, httpStatusOf, type ReadinessBody } from '@keylane/protocol';
import type { FastifyInstance } from 'fastify';
import type { HealthMonitor } from '../health-monitor.js';

export interface HealthDeps {
  engine: Engine;
  monitor: HealthMonitor;
  instanceId: string;
  isDraining: () => boolean;
  startedAt: number;
  /** How long a dependency may be unreachable before readiness says so (flaps ride through). */
  readyGraceMs: number;
}

/**
 * Liveness: the process answers. Readiness, from the health monitor's kept state (no round
 * trip per probe):
 * - 200 while the instance serves, including while a dependency has been away for less than
 *   `readyGraceMs`: a 40 ms Redis restart must not take every instance out of every caller's
 *   routing at once;
 * - 503 `degraded: true` once Postgres or Redis has been unreachable for longer: callers move
 *   its keys to instances that can serve them, and route to degraded ones only when no instance
 *   is better (they still serve what they can: reads from Postgres while Redis is away, cache
 *   hits while Postgres is);
 * - 503 `draining` once shutdown began.
 */
export function registerHealthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get(HEALTH_LIVE_PATH, (_request, reply) =>
    reply.send({ live: true, instanceId: deps.instanceId, uptimeMs: Date.now() - deps.startedAt }),
  );

  app.get(HEALTH_READY_PATH, (_request, reply) => {
    const draining = deps.isDraining();
    const { postgres, redis, problems } = deps.monitor.snapshot;
    const now = Date.now();
    const downFor = (d: { downSince: number | null }) => (d.downSince === null ? 0 : now - d.downSince);
    const longest = Math.max(downFor(postgres), downFor(redis));
    const degraded = !draining && longest > deps.readyGraceMs;
    const ready = !draining && !degraded;
    const body: ReadinessBody = {
      ready,
      degraded,
      draining,
      instanceId: deps.instanceId,
      strategy: deps.engine.strategy,
      postgres: postgres.up,
      redis: redis.up,
      problems: draining ? ['draining: the instance is shutting down'] : [...problems],
    };
    if (ready) return reply.send(body);
    const why = draining
      ? 'draining'
      : `${[!postgres.up && `postgres unreachable for ${downFor(postgres)} ms`, !redis.up && `redis unreachable for ${downFor(redis)} ms`]
          .filter(Boolean)
          .join(', ')}; serving what it can`;
    // Not the registry's error path on purpose: readiness failing is an answer, not a request
    // error, so it is not logged per probe. The body still is a valid error body.
    return reply.code(httpStatusOf('unavailable')).send({ ...errorBody('unavailable', `not ready: ${why}`), ...body });
  });
}
