import { METRICS_PATH } from '@keylane/protocol';
import type { FastifyInstance } from 'fastify';
import type { ServiceMetrics } from '../metrics.js';

export function registerMetricsRoute(app: FastifyInstance, metrics: ServiceMetrics): void {
  app.get(METRICS_PATH, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
