import type { Engine } from '@keylane/engine';
import { errorBody, HEALTH_LIVE_PATH, HEALTH_READY_PATH, httpStatusOf } from '@keylane/protocol';
import type { FastifyInstance } from 'fastify';

/** What readiness reports, on 200 and (beside the error body) on 503. */
export interface ReadinessStatus {
  ready: boolean;
  instanceId: string;
  strategy: string;
  draining: boolean;
  postgres: boolean;
  redis: boolean;
  problems: string[];
}

export interface HealthDeps {
  engine: Engine;
  instanceId: string;
  isDraining: () => boolean;
  startedAt: number;
}

export function registerHealthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get(HEALTH_LIVE_PATH, (_request, reply) =>
    reply.send({ live: true, instanceId: deps.instanceId, uptimeMs: Date.now() - deps.startedAt }),
  );

  app.get(HEALTH_READY_PATH, async (_request, reply) => {
    const draining = deps.isDraining();
    // While draining the dependencies do not matter: the answer is 503 either way, and
    // a probe storm during shutdown should not add load on Postgres and Redis.
    const health = draining
      ? { postgres: true, redis: true, problems: [] }
      : await deps.engine.health();
    const ready = !draining && health.postgres && health.redis;
    const problems = draining ? ['draining: the instance is shutting down'] : [...health.problems];
    if (!ready && problems.length === 0) {
      problems.push(
        `postgres ${health.postgres ? 'up' : 'down'}, redis ${health.redis ? 'up' : 'down'}`,
      );
    }
    const status: ReadinessStatus = {
      ready,
      instanceId: deps.instanceId,
      strategy: deps.engine.strategy,
      draining,
      postgres: health.postgres,
      redis: health.redis,
      problems,
    };
    if (ready) return status;
    // Not the registry's error path on purpose: readiness failing is an answer, not a
    // request error, so it is not logged per probe. The body still is a valid error body.
    return reply
      .code(httpStatusOf('unavailable'))
      .send({ ...errorBody('unavailable', `not ready: ${problems.join('; ')}`), ...status });
  });
}
