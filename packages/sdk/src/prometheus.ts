import { Counter, Histogram, type Registry } from 'prom-client';
import type { ClientMetrics } from './core/options.js';

export interface PrometheusMetricsOptions {
  /** Put before every metric name. @default 'keylane_sdk_' */
  prefix?: string;
  /** Request duration buckets, seconds. @default the item service's HTTP buckets */
  buckets?: number[];
}

const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The client's metrics in `registry` (prom-client is an optional peer dependency: only this
 * entry imports it). Pass the result as `createClient({ metrics })`:
 * `<prefix>requests_total{instance,method,outcome}`, `<prefix>failures_total{instance,code}`,
 * `<prefix>reroutes_total{from,to,code}` and `<prefix>request_duration_seconds{instance,method}`.
 */
export function prometheusMetrics(registry: Registry, options: PrometheusMetricsOptions = {}): ClientMetrics {
  const prefix = options.prefix ?? 'keylane_sdk_';
  const requests = new Counter({
    name: `${prefix}requests_total`,
    help: 'Attempts sent to each item-service instance, by method and outcome.',
    labelNames: ['instance', 'method', 'outcome'] as const,
    registers: [registry],
  });
  const failures = new Counter({
    name: `${prefix}failures_total`,
    help: 'Failed attempts by instance and code (a wire code, connection_failed, instance_down, request_timeout...).',
    labelNames: ['instance', 'code'] as const,
    registers: [registry],
  });
  const reroutes = new Counter({
    name: `${prefix}reroutes_total`,
    help: 'Calls moved to another instance after an attempt failed, by the instances and why.',
    labelNames: ['from', 'to', 'code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${prefix}request_duration_seconds`,
    help: 'Time from sending an attempt to its answer or failure.',
    labelNames: ['instance', 'method'] as const,
    buckets: options.buckets ?? DEFAULT_BUCKETS,
    registers: [registry],
  });
  return {
    request({ instance, method, outcome, code, seconds }) {
      requests.inc({ instance, method, outcome });
      duration.observe({ instance, method }, seconds);
      if (code !== undefined) failures.inc({ instance, code });
    },
    reroute({ from, to, code }) {
      reroutes.inc({ from, to, code });
    },
  };
}
