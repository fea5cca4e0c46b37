import { parse } from 'yaml';
import type { Exposition } from './exposition.js';
import { analyzePromql } from './promql.js';

export const OBSERVABILITY_DIR_RELATIVE = 'docker/observability';
export const DASHBOARD_FILE = `${OBSERVABILITY_DIR_RELATIVE}/grafana-dashboard.json`;
export const ALERTS_FILE = `${OBSERVABILITY_DIR_RELATIVE}/alerts.yaml`;
export const PROMETHEUS_FILE = `${OBSERVABILITY_DIR_RELATIVE}/prometheus.yaml`;
export const SERVICE_MONITOR_FILE = `${OBSERVABILITY_DIR_RELATIVE}/servicemonitor.yaml`;
export const OPERATIONS_GUIDE = 'docs/operations.md';
export const RUNBOOK_PREFIX = 'https://github.com/keylane/keylane/blob/main/docs/operations.md#';

/** Labels Prometheus adds to every scraped series; the service cannot export them. */
export const TARGET_LABELS: ReadonlySet<string> = new Set(['job', 'instance']);
/** Series Prometheus makes itself per target, with the target labels only. */
export const SYNTHETIC_SERIES: ReadonlySet<string> = new Set(['up']);

const SEVERITIES = new Set(['critical', 'warning', 'info']);

/** A query with where it came from, for messages. */
export interface Query {
  where: string;
  expr: string;
}

// Grafana's built-in interval variables are not PromQL; any fixed duration stands in for them.
const GRAFANA_INTERVALS = /\$__(rate_interval|interval|range)\b/g;

export interface DashboardPanel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h?: number; w?: number; x?: number; y?: number };
  targets?: Array<{ refId?: string; expr?: string; datasource?: { uid?: string } }>;
}

export interface Dashboard {
  title?: string;
  uid?: string;
  panels?: DashboardPanel[];
  templating?: {
    list?: Array<{
      name?: string;
      type?: string;
      query?: string | { query?: string };
      datasource?: { uid?: string };
    }>;
  };
}

/** Every PromQL query of the dashboard (panel targets), intervals substituted. */
export function dashboardQueries(dashboard: Dashboard): Query[] {
  const out: Query[] = [];
  for (const panel of dashboard.panels ?? []) {
    for (const target of panel.targets ?? []) {
      out.push({
        where: `panel "${panel.title ?? panel.id}" query ${target.refId ?? '?'}`,
        expr: (target.expr ?? '').replace(GRAFANA_INTERVALS, '5m'),
      });
    }
  }
  return out;
}

/** `label_values(metric, label)` of the dashboard's query variables. */
export function dashboardVariableRefs(
  dashboard: Dashboard,
): Array<{ variable: string; metric: string; label: string }> {
  const out: Array<{ variable: string; metric: string; label: string }> = [];
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const query = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    const m = /^label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*([a-zA-Z_]\w*)\s*\)$/.exec(query);
    out.push({ variable: v.name ?? '?', metric: m?.[1] ?? '', label: m?.[2] ?? '' });
  }
  return out;
}

/** The dashboard's shape: what Grafana needs to import it and the queries to run. */
export function checkDashboardShape(dashboard: Dashboard): string[] {
  const problems: string[] = [];
  if (!dashboard.title || !dashboard.uid) problems.push('dashboard has no title or uid');
  const variables = dashboard.templating?.list ?? [];
  const datasource = variables.find((v) => v.type === 'datasource' && v.query === 'prometheus');
  if (!datasource) problems.push('dashboard has no Prometheus datasource variable');
  const dsRef = `\${${datasource?.name ?? 'datasource'}}`;
  const ids = new Set<number>();
  for (const panel of dashboard.panels ?? []) {
    const name = `panel "${panel.title ?? '?'}"`;
    if (panel.id === undefined || ids.has(panel.id))
      problems.push(`${name} has a missing or duplicate id`);
    else ids.add(panel.id);
    const g = panel.gridPos;
    if (!g || g.w === undefined || g.x === undefined || g.x + g.w > 24)
      problems.push(`${name} does not fit the 24-column grid`);
    if (panel.type === 'row') continue;
    if (!panel.title) problems.push(`a ${panel.type ?? '?'} panel has no title`);
    if (panel.datasource?.uid !== dsRef)
      problems.push(`${name} does not use the datasource variable`);
    if (!panel.targets || panel.targets.length === 0) problems.push(`${name} has no query`);
    for (const t of panel.targets ?? []) {
      if (!t.expr) problems.push(`${name} query ${t.refId ?? '?'} is empty`);
      if (t.datasource?.uid !== dsRef)
        problems.push(`${name} query ${t.refId ?? '?'} does not use the datasource variable`);
    }
  }
  for (const v of variables.filter((x) => x.type === 'query')) {
    if (v.datasource?.uid !== dsRef)
      problems.push(`variable ${v.name ?? '?'} does not use the datasource variable`);
  }
  return problems;
}

export interface ExpressionCheck {
  problems: string[];
  /** Series names the expression reads. */
  metrics: string[];
  /** Labels the result can carry: grouping labels, else every label of its selectors. */
  resultLabels: Set<string>;
}

/**
 * One expression against a real scrape: it parses; every metric it selects is exported (or is
 * one Prometheus makes itself); every label it matches or groups by is on those series (or is a
 * target label); an equality matcher names a value the scrape has (the job: `jobName`); a
 * regular expression compiles.
 */
export function checkExpression(
  query: Query,
  exposition: Exposition,
  jobName: string,
): ExpressionCheck {
  const analysis = analyzePromql(query.expr);
  const problems = analysis.errors.map((e) => `${query.where}: ${e} in ${query.expr}`);
  const selectorLabels = new Set<string>(TARGET_LABELS);
  for (const selector of analysis.selectors) {
    const synthetic = SYNTHETIC_SERIES.has(selector.metric);
    const series = exposition.series.get(selector.metric);
    if (!synthetic && !series) {
      problems.push(`${query.where}: ${selector.metric} is not exported by the item service`);
      continue;
    }
    for (const label of series?.keys() ?? []) selectorLabels.add(label);
    for (const { label, op, value } of selector.matchers) {
      const where = `${query.where}: ${selector.metric}{${label}${op}${JSON.stringify(value)}}`;
      if (op === '=~' || op === '!~') {
        if (!value.includes('$')) {
          try {
            new RegExp(`^(?:${value})$`);
          } catch {
            problems.push(`${where}: not a regular expression`);
          }
        }
      }
      if (TARGET_LABELS.has(label)) {
        if (label === 'job' && op === '=' && value !== jobName)
          problems.push(`${where}: the scrape job is ${jobName}`);
        continue;
      }
      const values = series?.get(label);
      if (!values) {
        problems.push(`${where}: ${selector.metric} has no label ${label}`);
      } else if (op === '=' && !value.includes('$') && !values.has(value)) {
        problems.push(`${where}: no such value (seen: ${[...values].sort().join(', ')})`);
      }
    }
  }
  for (const label of analysis.groupingLabels) {
    if (!selectorLabels.has(label))
      problems.push(`${query.where}: groups by ${label}, which none of its series has`);
  }
  return {
    problems,
    metrics: analysis.selectors.map((s) => s.metric),
    resultLabels:
      analysis.groupingLabels.length > 0 ? new Set(analysis.groupingLabels) : selectorLabels,
  };
}

export interface AlertRule {
  alert?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleFile {
  groups?: Array<{ name?: string; rules?: AlertRule[] }>;
}

export function parseRules(text: string): RuleFile {
  return parse(text) as RuleFile;
}

export function allRules(file: RuleFile): AlertRule[] {
  return (file.groups ?? []).flatMap((g) => g.rules ?? []);
}

/** GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const [, heading] of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    anchors.add(
      heading!
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    );
  }
  return anchors;
}

/**
 * The alert rules: the file's shape as Prometheus loads it (groups of rules with alert, expr,
 * for, labels, annotations), each expression against the scrape, the labels its annotations
 * template on, and a runbook section in the operations guide for every alert.
 */
export function checkRules(
  file: RuleFile,
  exposition: Exposition,
  jobName: string,
  guide: string,
): string[] {
  const problems: string[] = [];
  if (!Array.isArray(file.groups) || file.groups.length === 0)
    return ['the rule file has no groups'];
  const anchors = headingAnchors(guide);
  const names = new Set<string>();
  for (const group of file.groups) {
    if (!group.name) problems.push('a rule group has no name');
    for (const rule of group.rules ?? []) {
      const name = rule.alert ?? '(no alert name)';
      if (!rule.alert || !/^Keylane[A-Z][A-Za-z]+$/.test(rule.alert))
        problems.push(`${name}: alert names are Keylane<CamelCase>`);
      if (names.has(name)) problems.push(`${name}: defined twice`);
      names.add(name);
      if (typeof rule.expr !== 'string' || rule.expr.trim() === '') {
        problems.push(`${name}: no expr`);
        continue;
      }
      const check = checkExpression({ where: name, expr: rule.expr }, exposition, jobName);
      problems.push(...check.problems);
      if (rule.for !== undefined && !/^\d+(ms|s|m|h|d)$/.test(rule.for))
        problems.push(`${name}: for ${JSON.stringify(rule.for)} is not a duration`);
      if (!SEVERITIES.has(rule.labels?.['severity'] ?? ''))
        problems.push(`${name}: severity must be one of ${[...SEVERITIES].join(', ')}`);
      for (const key of ['summary', 'description', 'runbook_url']) {
        if (!rule.annotations?.[key]) problems.push(`${name}: no ${key} annotation`);
      }
      for (const text of Object.values(rule.annotations ?? {})) {
        for (const [, label] of text.matchAll(/\$labels\.([a-zA-Z_]\w*)/g)) {
          if (!check.resultLabels.has(label!))
            problems.push(
              `${name}: annotations use $labels.${label!}, which its result does not carry`,
            );
        }
      }
      const url = rule.annotations?.['runbook_url'] ?? '';
      if (!url.startsWith(RUNBOOK_PREFIX)) {
        problems.push(`${name}: runbook_url does not point into ${OPERATIONS_GUIDE}`);
      } else if (!anchors.has(url.slice(RUNBOOK_PREFIX.length))) {
        problems.push(
          `${name}: ${OPERATIONS_GUIDE} has no section #${url.slice(RUNBOOK_PREFIX.length)}`,
        );
      }
    }
  }
  return problems;
}

export interface PrometheusConfig {
  rule_files?: string[];
  scrape_configs?: Array<{
    job_name?: string;
    metrics_path?: string;
    static_configs?: Array<{ targets?: string[] }>;
  }>;
}
