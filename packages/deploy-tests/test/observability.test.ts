import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFleet, type Fleet } from '@keylane/cli';
import { ITEM_ROUTE } from '@keylane/item-service';
import { METRICS_PATH } from '@keylane/protocol';
import { createClient } from '@keylane/sdk';
import { createTestContext, type TestContext } from '@keylane/harness';
import { parse } from 'yaml';
import { environmentOf, itemServiceEntries, parseCompose } from './lib/compose.js';
import { parseExposition, type Exposition } from './lib/exposition.js';
import {
  ALERTS_FILE,
  allRules,
  checkDashboardShape,
  checkExpression,
  checkRules,
  DASHBOARD_FILE,
  dashboardQueries,
  dashboardVariableRefs,
  OBSERVABILITY_DIR_RELATIVE,
  OPERATIONS_GUIDE,
  parseRules,
  PROMETHEUS_FILE,
  type Dashboard,
  type PrometheusConfig,
  type RuleFile,
} from './lib/observability.js';
import { readJson, readRepoFile, REPO_ROOT } from './lib/repo.js';

/**
 * docker/observability against a real item service: its /metrics is scraped after real traffic
 * (so the labelled series exist), and every metric, label and label value a dashboard panel or
 * an alert rule uses must be in that scrape. Expressions are parsed with Prometheus' own PromQL
 * grammar. Each check is also shown failing on a doctored copy.
 */

const DASHBOARD = readJson<Dashboard>(DASHBOARD_FILE);
const RULES = parseRules(readRepoFile(ALERTS_FILE));
const PROMETHEUS = parse(readRepoFile(PROMETHEUS_FILE)) as PrometheusConfig;
const GUIDE = readRepoFile(OPERATIONS_GUIDE);
const JOB = PROMETHEUS.scrape_configs?.[0]?.job_name ?? '';

let ctx: TestContext;
let fleet: Fleet;
let scrape: Exposition;

/** A request line Node's HTTP parser refuses, so the client-error counter gets its label. */
async function sendMalformed(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.end('NOT HTTP AT ALL\r\n\r\n');
  socket.resume();
  await once(socket, 'close');
}

beforeAll(async () => {
  ctx = await createTestContext({ name: 'observability' });
  fleet = await startFleet({
    count: 1,
    lanes: 2,
    databaseUrl: ctx.databaseUrl,
    redisUrl: ctx.redisUrl,
    schema: ctx.schema,
    prefix: ctx.prefix,
  });
  const url = fleet.instances[0]!.url;
  const client = createClient({ instances: [url] });
  await client.ready();
  await client.put(1n, 'one'); // a write (and its fill)
  await client.get(1n); // a hit
  await client.get(2n); // a miss: lease, DB read, fill
  await client.put(1n, 'two', { ifVersion: 9 }).catch(() => undefined); // 409
  await client.close();
  await fetch(`${url}/no-such-route`).then((r) => r.arrayBuffer()); // route "unmatched"
  await sendMalformed(url);
  const res = await fetch(`${url}${METRICS_PATH}`);
  scrape = parseExposition(await res.text());
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
  await ctx?.dispose();
});

describe(`${DASHBOARD_FILE}`, () => {
  it('is a dashboard Grafana imports: panels on the grid, queries on the datasource variable', () => {
    expect(checkDashboardShape(DASHBOARD)).toEqual([]);
  });

  it('uses only metrics, labels and values a running item service exports', () => {
    const problems = dashboardQueries(DASHBOARD).flatMap(
      (q) => checkExpression(q, scrape, JOB).problems,
    );
    for (const v of dashboardVariableRefs(DASHBOARD)) {
      if (!scrape.series.get(v.metric)?.has(v.label))
        problems.push(`variable ${v.variable}: no ${v.metric} series with label ${v.label}`);
    }
    expect(problems).toEqual([]);
  });

  it('shows every keylane_* metric the service exports', () => {
    const used = new Set(
      dashboardQueries(DASHBOARD).flatMap((q) => checkExpression(q, scrape, JOB).metrics),
    );
    const exported = [...scrape.families.keys()].filter((f) => f.startsWith('keylane_'));
    const shown = (family: string): boolean =>
      used.has(family) || [...used].some((m) => m.startsWith(`${family}_`));
    expect(exported.filter((f) => !shown(f))).toEqual([]);
    expect(exported.length).toBeGreaterThan(20);
  });

  it('has the panels the operations guide refers to', () => {
    const titles = (DASHBOARD.panels ?? []).map((p) => p.title);
    for (const title of [
      'Cache hit ratio',
      'Lease outcomes',
      'Deepest lane queue, by instance',
      'HTTP 5xx',
    ])
      expect(titles).toContain(title);
  });
});

describe(`${ALERTS_FILE}`, () => {
  it('parses as Prometheus rule groups whose expressions use exported metrics, with a runbook section each', () => {
    expect(checkRules(RULES, scrape, JOB, GUIDE)).toEqual([]);
    expect(allRules(RULES).length).toBeGreaterThanOrEqual(10);
  });

  it('covers what the issue asks an alert for', () => {
    const exprs = allRules(RULES)
      .map((r) => r.expr ?? '')
      .join('\n');
    for (const metric of [
      'keylane_lane_queue_depth_max',
      'keylane_overloaded_total',
      'keylane_writes_expired_total',
      'keylane_leases_total',
      'keylane_cache_fills_rejected_total',
      'keylane_redis_errors_total',
      'keylane_db_errors_total',
      'keylane_http_requests_total',
      'keylane_http_request_duration_seconds_bucket',
      'keylane_draining',
      'keylane_writes_unknown_total',
      'keylane_lane_wait_seconds_bucket',
      'keylane_errors_total',
      'keylane_build_info',
    ])
      expect(exprs).toContain(metric);
  });
});

describe(`${PROMETHEUS_FILE}`, () => {
  it('scrapes the compose fleet at its port and path, as the job the rules select, and loads the rules', () => {
    const compose = parseCompose(readRepoFile('docker/compose.yaml'));
    const targets = itemServiceEntries(compose).map(
      ([name, service]) => `${name}:${environmentOf(service).env['KEYLANE_PORT']}`,
    );
    const [job] = PROMETHEUS.scrape_configs ?? [];
    expect(job?.job_name).toBe('keylane-items');
    expect(job?.metrics_path).toBe(METRICS_PATH);
    expect(job?.static_configs?.flatMap((c) => c.targets ?? []).sort()).toEqual(targets.sort());
    for (const file of PROMETHEUS.rule_files ?? [])
      expect(existsSync(`${REPO_ROOT}/${OBSERVABILITY_DIR_RELATIVE}/${file}`)).toBe(true);
    expect(PROMETHEUS.rule_files).toContain('alerts.yaml');
    // The Kubernetes Service gives the ServiceMonitor's job the same name.
    const service = parse(readRepoFile('docker/k8s/service.yaml')) as {
      metadata: { name: string };
    };
    expect(service.metadata.name).toBe(job?.job_name);
  });
});

describe('the checks fail on doctored copies', () => {
  const panelQuery = (expr: string): string[] =>
    checkExpression({ where: 'doctored', expr }, scrape, JOB).problems;

  it.each<[string, string, string]>([
    [
      'a misspelled metric',
      'sum(rate(keylane_cache_hit_total[5m]))',
      'keylane_cache_hit_total is not exported',
    ],
    [
      'a metric the service does not export yet',
      'rate(keylane_redis_restarts_total[5m])',
      'keylane_redis_restarts_total is not exported',
    ],
    [
      'a label the metric does not have',
      'sum by (lane) (keylane_overloaded_total)',
      'groups by lane',
    ],
    ['a matcher on a missing label', 'keylane_leases_total{result="busy"}', 'has no label result'],
    ['a value no series has', 'keylane_leases_total{outcome="stolen"}', 'no such value'],
    ['another route', 'keylane_http_requests_total{route="/v1/item/:id"}', 'no such value'],
    ['another job', 'up{job="items"} == 0', 'the scrape job is keylane-items'],
    [
      'a broken regular expression',
      'keylane_http_requests_total{status=~"5(.."}',
      'not a regular expression',
    ],
    ['a missing parenthesis', 'sum(rate(keylane_db_errors_total[5m])', 'syntax error'],
    ['an unknown function', 'ratee(keylane_db_errors_total[5m])', 'syntax error'],
  ])('a query with %s', (_what, expr, expected) => {
    expect(panelQuery(expr).join('\n')).toContain(expected);
  });

  it('the item route the panels use is the service route', () => {
    expect(panelQuery(`keylane_http_requests_total{route="${ITEM_ROUTE}"}`)).toEqual([]);
  });

  const doctoredRules = (
    change: (rules: NonNullable<RuleFile['groups']>[number]['rules']) => void,
  ): string =>
    checkRules(
      ((copy) => {
        change(copy.groups![0]!.rules);
        return copy;
      })(structuredClone(RULES)),
      scrape,
      JOB,
      GUIDE,
    ).join('\n');

  it.each<[string, (rules: NonNullable<RuleFile['groups']>[number]['rules']) => void, string]>([
    [
      'a runbook section the guide lacks',
      (r) => (r![0]!.annotations!['runbook_url'] += 'x'),
      'has no section',
    ],
    [
      'an annotation label the result does not carry',
      (r) => (r![2]!.annotations!['summary'] = '{{ $labels.lane }}'),
      '$labels.lane',
    ],
    [
      'a severity Alertmanager routes nowhere',
      (r) => (r![0]!.labels = { severity: 'page' }),
      'severity must be',
    ],
    ['a duplicate alert', (r) => r!.push(structuredClone(r![0]!)), 'defined twice'],
    ['a bad for', (r) => (r![1]!.for = 'two minutes'), 'is not a duration'],
    ['a broken expression', (r) => (r![1]!.expr = 'up{job="keylane-items"} ==='), 'syntax error'],
  ])('a rule with %s', (_what, change, expected) => {
    expect(doctoredRules(change)).toContain(expected);
  });

  it('a dashboard without the lease panel no longer shows keylane_leases_total', () => {
    const copy = structuredClone(DASHBOARD);
    copy.panels = copy.panels!.filter((p) => p.title !== 'Lease outcomes');
    const used = new Set(
      dashboardQueries(copy).flatMap((q) => checkExpression(q, scrape, JOB).metrics),
    );
    expect(used.has('keylane_leases_total')).toBe(false);
  });

  it('a dashboard panel on a fixed datasource', () => {
    const copy = structuredClone(DASHBOARD);
    copy.panels!.find((p) => p.type !== 'row')!.datasource = { type: 'prometheus', uid: 'prod' };
    expect(checkDashboardShape(copy).join('\n')).toContain('does not use the datasource variable');
  });
});
