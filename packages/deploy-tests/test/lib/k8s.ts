import { readdirSync, readFileSync } from 'node:fs';
import { HEALTH_LIVE_PATH, HEALTH_READY_PATH, METRICS_PATH } from '@keylane/protocol';
import { parseAllDocuments } from 'yaml';
import { checkCallerEnv, checkItemServiceEnv } from './service-env.js';

export const K8S_DIR_RELATIVE = 'docker/k8s';

/** A manifest as parsed: only the fields the checks read are typed. */
export interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; labels?: Record<string, string> };
  data?: Record<string, unknown>;
  spec?: Record<string, unknown>;
  resources?: string[];
  [key: string]: unknown;
}

export interface LoadedManifest {
  file: string;
  manifest: Manifest;
}

/** Every YAML document of every file in `dir`; a syntax error in any of them throws. */
export function loadManifests(dir: string): LoadedManifest[] {
  const out: LoadedManifest[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(`${dir}/${file}`, 'utf8'))) {
      if (doc.errors.length > 0)
        throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const manifest = doc.toJS() as Manifest | null;
      if (manifest !== null) out.push({ file, manifest });
    }
  }
  return out;
}

// Values substituted for what only the cluster knows, so loadConfig can check the rest.
export const SAMPLE_SECRET_VALUES: Readonly<Record<string, string>> = Object.freeze({
  'keylane-database/url': 'postgres://keylane:s3cret@keylane-postgres:5432/keylane',
});
export const SAMPLE_FIELD_VALUES: Readonly<Record<string, string>> = Object.freeze({
  'metadata.name': 'keylane-items-7d9f8c6b5-x2x4q',
  'status.podIP': '10.244.1.17',
});

/** UID of the `node` user in the official Node images, which the Dockerfile's USER names. */
export const NODE_IMAGE_UID = 1000;

interface Container {
  name?: string;
  ports?: Array<{ name?: string; containerPort?: number }>;
  env?: Array<{
    name: string;
    value?: string;
    valueFrom?: {
      secretKeyRef?: { name?: string; key?: string };
      configMapKeyRef?: { name?: string; key?: string };
      fieldRef?: { fieldPath?: string };
    };
  }>;
  envFrom?: Array<{ configMapRef?: { name?: string }; secretRef?: { name?: string } }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command?: string[] }; sleep?: { seconds?: number } } };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
  };
}

interface Probe {
  httpGet?: { path?: string; port?: string | number };
}

interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers?: Container[];
}

function selectorMatches(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function only(
  manifests: readonly LoadedManifest[],
  kind: string,
  problems: string[],
): LoadedManifest | undefined {
  const found = manifests.filter((m) => m.manifest.kind === kind);
  if (found.length !== 1) {
    problems.push(`expected exactly one ${kind}, found ${found.length}`);
    return undefined;
  }
  return found[0];
}

/** How long preStop holds the pod, in seconds: `sleep N` in an exec hook, or the native sleep action. */
export function preStopSeconds(container: Container): number | undefined {
  const hook = container.lifecycle?.preStop;
  if (hook?.sleep?.seconds !== undefined) return hook.sleep.seconds;
  const command = hook?.exec?.command;
  if (command?.[0] === 'sleep' && command.length === 2) return Number(command[1]);
  return undefined;
}

/**
 * The item-service manifests against the service's config schema and against each other:
 * probes, ports, environment, shutdown timing, selectors, and where the database URL comes from.
 */
export function checkManifests(
  manifests: readonly LoadedManifest[],
  files: readonly string[],
): string[] {
  const problems: string[] = [];

  const kustomization = only(manifests, 'Kustomization', problems);
  if (kustomization) {
    const listed = new Set(kustomization.manifest.resources ?? []);
    for (const file of files.filter((f) => f !== kustomization.file)) {
      if (!listed.has(file)) problems.push(`kustomization.yaml does not list ${file}`);
    }
    for (const file of listed)
      if (!files.includes(file))
        problems.push(`kustomization.yaml lists ${file}, which does not exist`);
  }

  const deployment = only(manifests, 'Deployment', problems)?.manifest;
  const configMap = only(manifests, 'ConfigMap', problems)?.manifest;
  const service = only(manifests, 'Service', problems)?.manifest;
  const pdb = only(manifests, 'PodDisruptionBudget', problems)?.manifest;
  if (!deployment || !configMap || !service || !pdb) return problems;

  const template = deployment.spec?.['template'] as
    | {
        metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
        spec?: PodSpec;
      }
    | undefined;
  const podLabels = template?.metadata?.labels;
  const pod = template?.spec ?? {};
  const container = pod.containers?.find((c) => c.name === 'item-service');
  if (!container) {
    problems.push('Deployment has no container named item-service');
    return problems;
  }

  const deploymentSelector = (
    deployment.spec?.['selector'] as { matchLabels?: Record<string, string> } | undefined
  )?.matchLabels;
  if (!selectorMatches(deploymentSelector, podLabels))
    problems.push('Deployment selector does not match its pod labels');
  const serviceSpec = service.spec as {
    clusterIP?: string;
    selector?: Record<string, string>;
    ports?: Array<{ port?: number; targetPort?: string | number }>;
  };
  if (serviceSpec.clusterIP !== 'None') {
    problems.push(
      `Service is not headless (clusterIP ${JSON.stringify(serviceSpec.clusterIP)}): DNS would answer one virtual IP, not one address per pod`,
    );
  }
  if (!selectorMatches(serviceSpec.selector, podLabels))
    problems.push('Service selector does not match the pod labels');
  const pdbSelector = (
    pdb.spec?.['selector'] as { matchLabels?: Record<string, string> } | undefined
  )?.matchLabels;
  if (!selectorMatches(pdbSelector, podLabels))
    problems.push('PodDisruptionBudget selector does not match the pod labels');

  // Environment as the pod sees it: ConfigMap keys (envFrom), then env entries (which win).
  const configMapName = configMap.metadata?.name;
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef && source.configMapRef.name !== configMapName) {
      problems.push(
        `container takes envFrom ConfigMap ${source.configMapRef.name ?? '?'}, which is not in these manifests`,
      );
    }
    if (source.secretRef)
      problems.push('container takes a whole Secret as envFrom: name the one key it needs instead');
  }
  if ((container.envFrom ?? []).some((s) => s.configMapRef?.name === configMapName)) {
    for (const [key, value] of Object.entries(configMap.data ?? {}))
      env[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  for (const entry of container.env ?? []) {
    const from = entry.valueFrom;
    if (entry.value !== undefined) env[entry.name] = entry.value;
    else if (from?.secretKeyRef) {
      const ref = `${from.secretKeyRef.name ?? ''}/${from.secretKeyRef.key ?? ''}`;
      const sample = SAMPLE_SECRET_VALUES[ref];
      if (sample === undefined)
        problems.push(
          `env ${entry.name} reads Secret key ${ref}, which has no sample value in the test`,
        );
      else env[entry.name] = sample;
    } else if (from?.fieldRef?.fieldPath !== undefined) {
      const sample = SAMPLE_FIELD_VALUES[from.fieldRef.fieldPath];
      if (sample === undefined)
        problems.push(
          `env ${entry.name} reads field ${from.fieldRef.fieldPath}, which has no sample value`,
        );
      else env[entry.name] = sample;
    } else if (from?.configMapKeyRef) {
      const value =
        from.configMapKeyRef.name === configMapName
          ? configMap.data?.[from.configMapKeyRef.key ?? '']
          : undefined;
      if (value === undefined)
        problems.push(`env ${entry.name} reads a ConfigMap key that does not exist`);
      else env[entry.name] = typeof value === 'string' ? value : JSON.stringify(value);
    } else {
      problems.push(`env ${entry.name} has neither value nor valueFrom`);
    }
  }
  const { problems: envProblems, config } = checkItemServiceEnv(env, 'Deployment item-service');
  problems.push(...envProblems);

  // The password-bearing URL lives in a Secret, never in the ConfigMap.
  if (Object.hasOwn(configMap.data ?? {}, 'KEYLANE_DATABASE_URL')) {
    problems.push(
      'ConfigMap holds KEYLANE_DATABASE_URL: it carries a password and belongs in a Secret',
    );
  }
  const dbEntry = container.env?.find((e) => e.name === 'KEYLANE_DATABASE_URL');
  if (!dbEntry?.valueFrom?.secretKeyRef)
    problems.push('KEYLANE_DATABASE_URL does not come from a secretKeyRef');

  // Probes hit the service's health routes on the port it listens on.
  const httpPort = container.ports?.find((p) => p.name === 'http');
  if (!httpPort) problems.push('container has no port named http');
  else if (config && httpPort.containerPort !== config.port) {
    problems.push(
      `container port http is ${httpPort.containerPort}, but KEYLANE_PORT is ${config.port}`,
    );
  }
  for (const [kind, probe, path] of [
    ['readinessProbe', container.readinessProbe, HEALTH_READY_PATH],
    ['livenessProbe', container.livenessProbe, HEALTH_LIVE_PATH],
  ] as const) {
    if (probe?.httpGet?.path !== path)
      problems.push(`${kind} path is ${JSON.stringify(probe?.httpGet?.path)}, expected ${path}`);
    if (probe?.httpGet?.port !== 'http')
      problems.push(
        `${kind} port is ${JSON.stringify(probe?.httpGet?.port)}, expected the named port http`,
      );
  }
  // Annotation-based Prometheus scraping finds /metrics on the port the service listens on.
  const annotations = template?.metadata?.annotations ?? {};
  if (annotations['prometheus.io/scrape'] !== 'true')
    problems.push('pod template does not set prometheus.io/scrape: "true"');
  if (annotations['prometheus.io/path'] !== METRICS_PATH)
    problems.push(
      `prometheus.io/path is ${JSON.stringify(annotations['prometheus.io/path'])}, the service serves ${METRICS_PATH}`,
    );
  if (config && annotations['prometheus.io/port'] !== String(config.port))
    problems.push(
      `prometheus.io/port is ${JSON.stringify(annotations['prometheus.io/port'])}, but KEYLANE_PORT is ${config.port}`,
    );

  const servicePort = serviceSpec.ports?.[0];
  if (servicePort?.targetPort !== 'http' && servicePort?.targetPort !== httpPort?.containerPort) {
    problems.push(
      `Service targetPort ${JSON.stringify(servicePort?.targetPort)} is not the container's http port`,
    );
  }
  if (config && servicePort?.port !== config.port) {
    // Callers discovering pods by DNS connect to pod addresses at this port; the Service's port
    // is what they are told to use, so the two must agree.
    problems.push(`Service port ${servicePort?.port} differs from KEYLANE_PORT ${config.port}`);
  }

  // Shutdown: preStop pause, then the service's drain and grace, all within the kill deadline.
  const pause = preStopSeconds(container);
  if (pause === undefined)
    problems.push('container has no preStop pause (endpoints would still list a stopping pod)');
  const grace = pod.terminationGracePeriodSeconds;
  if (config && pause !== undefined) {
    const needed = pause + (config.drainMs + config.shutdownGraceMs) / 1000;
    if (grace === undefined || grace <= needed) {
      problems.push(
        `terminationGracePeriodSeconds ${grace ?? '(default 30)'} is not above preStop ${pause} s + ` +
          `KEYLANE_DRAIN_MS ${config.drainMs / 1000} s + KEYLANE_SHUTDOWN_GRACE_MS ${config.shutdownGraceMs / 1000} s = ${needed} s`,
      );
    }
  }

  // The image runs as `node`; the pod must not ask for root instead.
  const runAsUser = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
  const runAsNonRoot = container.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
  if (runAsNonRoot !== true) problems.push('pod does not set runAsNonRoot: true');
  if (runAsUser !== undefined && runAsUser !== NODE_IMAGE_UID) {
    problems.push(`runAsUser ${runAsUser} is not the image's node user (${NODE_IMAGE_UID})`);
  }
  return problems;
}

/**
 * The example caller's Deployment (docker/k8s/examples): its variables against the caller's
 * loader, and its DNS name and port against the headless Service it is meant to discover.
 */
export function checkCallerManifest(caller: Manifest, fleet: readonly LoadedManifest[]): string[] {
  const problems: string[] = [];
  const template = caller.spec?.['template'] as { spec?: PodSpec } | undefined;
  const container = template?.spec?.containers?.[0];
  if (!container) return ['example caller Deployment has no container'];
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    if (entry.value === undefined)
      problems.push(`example caller env ${entry.name} is not a plain value`);
    else env[entry.name] = entry.value;
  }
  problems.push(...checkCallerEnv(env, 'example caller Deployment'));
  const service = fleet.find((m) => m.manifest.kind === 'Service')?.manifest;
  const serviceName = service?.metadata?.name ?? '';
  const dnsName = env['KEYLANE_DNS_NAME'] ?? '';
  if (dnsName !== serviceName && !dnsName.startsWith(`${serviceName}.`)) {
    problems.push(
      `example caller resolves ${JSON.stringify(dnsName)}, not the Service ${serviceName}`,
    );
  }
  const port = (service?.spec as { ports?: Array<{ port?: number }> } | undefined)?.ports?.[0]
    ?.port;
  if (env['KEYLANE_DNS_PORT'] !== String(port)) {
    problems.push(
      `example caller KEYLANE_DNS_PORT is ${env['KEYLANE_DNS_PORT'] ?? '(unset)'}, the Service port is ${port}`,
    );
  }
  const runAsNonRoot =
    container.securityContext?.runAsNonRoot ?? template?.spec?.securityContext?.runAsNonRoot;
  if (runAsNonRoot !== true) problems.push('example caller pod does not set runAsNonRoot: true');
  return problems;
}

/**
 * The Prometheus Operator's ServiceMonitor (docker/observability) against the fleet's Service:
 * it selects that Service by its labels, scrapes a port the Service names, on the service's
 * metrics path.
 */
export function checkServiceMonitor(monitor: Manifest, fleet: readonly LoadedManifest[]): string[] {
  const problems: string[] = [];
  if (monitor.kind !== 'ServiceMonitor' || monitor.apiVersion !== 'monitoring.coreos.com/v1')
    problems.push(
      `expected a monitoring.coreos.com/v1 ServiceMonitor, got ${monitor.apiVersion ?? '?'} ${monitor.kind ?? '?'}`,
    );
  const service = fleet.find((m) => m.manifest.kind === 'Service')?.manifest;
  const spec = monitor.spec as
    | {
        selector?: { matchLabels?: Record<string, string> };
        endpoints?: Array<{ port?: string; path?: string }>;
      }
    | undefined;
  if (!selectorMatches(spec?.selector?.matchLabels, service?.metadata?.labels))
    problems.push(
      `ServiceMonitor selector does not match the labels of Service ${service?.metadata?.name ?? '?'}`,
    );
  const ports = new Set(
    ((service?.spec as { ports?: Array<{ name?: string }> } | undefined)?.ports ?? []).map(
      (p) => p.name,
    ),
  );
  const endpoints = spec?.endpoints ?? [];
  if (endpoints.length === 0) problems.push('ServiceMonitor has no endpoints');
  for (const endpoint of endpoints) {
    if (!ports.has(endpoint.port))
      problems.push(
        `ServiceMonitor endpoint port ${JSON.stringify(endpoint.port)} is not a named port of the Service`,
      );
    if (endpoint.path !== METRICS_PATH)
      problems.push(
        `ServiceMonitor endpoint path is ${JSON.stringify(endpoint.path)}, the service serves ${METRICS_PATH}`,
      );
  }
  return problems;
}
