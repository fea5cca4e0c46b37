import { readdirSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import {
  checkCallerManifest,
  checkManifests,
  checkServiceMonitor,
  loadManifests,
  K8S_DIR_RELATIVE,
  type LoadedManifest,
  type Manifest,
} from './lib/k8s.js';
import { readRepoFile, REPO_ROOT } from './lib/repo.js';

/**
 * docker/k8s against the service's config schema and against itself. Each check is also shown
 * failing on a doctored copy, so a check that can never fail would be noticed here.
 */

const DIR = `${REPO_ROOT}/${K8S_DIR_RELATIVE}`;
const FILES = readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const MANIFESTS = loadManifests(DIR);

type Doctor = (byKind: (kind: string) => Manifest, all: LoadedManifest[]) => void;

/** A deep copy of the manifests with one change. */
function doctored(change: Doctor): LoadedManifest[] {
  const copy = structuredClone(MANIFESTS);
  const byKind = (kind: string): Manifest => copy.find((m) => m.manifest.kind === kind)!.manifest;
  change(byKind, copy);
  return copy;
}

// The parts of the manifests the doctors edit, typed loosely enough to break them.
interface EnvEntry {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface HttpProbe {
  httpGet: { path: string; port: string | number };
}
interface TestContainer {
  ports: Array<{ containerPort: number }>;
  env: EnvEntry[];
  readinessProbe: HttpProbe;
  livenessProbe: HttpProbe;
  lifecycle?: unknown;
}
interface TestTemplate {
  metadata: { annotations?: Record<string, string> };
}
interface TestPod {
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
  containers: TestContainer[];
}
interface SelectorSpec {
  clusterIP?: string;
  selector: Record<string, unknown>;
}
const pod = (d: Manifest): TestPod => (d.spec as { template: { spec: TestPod } }).template.spec;
const annotations = (d: Manifest): Record<string, string> =>
  ((d.spec as { template: TestTemplate }).template.metadata.annotations ??= {});
const container = (d: Manifest): TestContainer => pod(d).containers[0]!;
const spec = (d: Manifest): SelectorSpec => d.spec as unknown as SelectorSpec;

describe('docker/k8s', () => {
  it('parses: every file, every document', () => {
    expect(FILES).toEqual([
      'configmap.yaml',
      'deployment.yaml',
      'kustomization.yaml',
      'pdb.yaml',
      'service.yaml',
    ]);
    expect(MANIFESTS.map((m) => m.manifest.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'Kustomization',
      'PodDisruptionBudget',
      'Service',
    ]);
  });

  it('passes every check: probes, ports, env against the config schema, shutdown timing, selectors, the Secret', () => {
    expect(checkManifests(MANIFESTS, FILES)).toEqual([]);
  });

  it('names in README the same Secret and key the Deployment reads', () => {
    const ref = container(
      MANIFESTS.find((m) => m.manifest.kind === 'Deployment')!.manifest,
    ).env.find((e) => e.name === 'KEYLANE_DATABASE_URL')!.valueFrom!.secretKeyRef!;
    expect(readRepoFile('README.md')).toContain(
      `kubectl create secret generic ${ref.name} --from-literal=${ref.key}=`,
    );
  });

  const cases: Array<[string, Doctor, string]> = [
    [
      'a readiness probe on the liveness path',
      (k) => (container(k('Deployment')).readinessProbe.httpGet.path = '/healthz/live'),
      'readinessProbe path',
    ],
    [
      'a liveness probe on the readiness path',
      (k) => (container(k('Deployment')).livenessProbe.httpGet.path = '/healthz/ready'),
      'livenessProbe path',
    ],
    [
      'a probe on a numeric port',
      (k) => (container(k('Deployment')).livenessProbe.httpGet.port = 8080),
      'livenessProbe port',
    ],
    [
      'a container port other than KEYLANE_PORT',
      (k) => (container(k('Deployment')).ports[0]!.containerPort = 9090),
      'container port http is 9090',
    ],
    [
      'KEYLANE_PORT changed in the ConfigMap only',
      (k) => (k('ConfigMap').data!['KEYLANE_PORT'] = '9090'),
      'KEYLANE_PORT is 9090',
    ],
    [
      'a ConfigMap variable the service does not accept',
      (k) => (k('ConfigMap').data!['KEYLANE_LANE'] = '4'),
      'sets KEYLANE_LANE',
    ],
    [
      'a ConfigMap value loadConfig refuses',
      (k) => (k('ConfigMap').data!['KEYLANE_STRATEGY'] = 'fast'),
      'KEYLANE_STRATEGY="fast" is not allowed',
    ],
    [
      'an env entry the service does not accept',
      (k) => container(k('Deployment')).env.push({ name: 'KEYLANE_TYPO', value: '1' }),
      'sets KEYLANE_TYPO',
    ],
    [
      'no instance id',
      (k) =>
        (container(k('Deployment')).env = container(k('Deployment')).env.filter(
          (e) => e.name !== 'KEYLANE_INSTANCE_ID',
        )),
      'omits KEYLANE_INSTANCE_ID',
    ],
    [
      'the grace period not above preStop + drain + grace',
      (k) => (pod(k('Deployment')).terminationGracePeriodSeconds = 25),
      'terminationGracePeriodSeconds 25 is not above',
    ],
    [
      'a longer drain without a longer grace period',
      (k) => (k('ConfigMap').data!['KEYLANE_DRAIN_MS'] = '25000'),
      'KEYLANE_DRAIN_MS 25 s',
    ],
    ['no preStop pause', (k) => delete container(k('Deployment')).lifecycle, 'no preStop pause'],
    [
      'a Service with a cluster IP',
      (k) => delete spec(k('Service')).clusterIP,
      'Service is not headless',
    ],
    [
      'a Service selecting other pods',
      (k) => (spec(k('Service')).selector = { app: 'other' }),
      'Service selector does not match',
    ],
    [
      'a PDB selecting other pods',
      (k) => (spec(k('PodDisruptionBudget')).selector = { matchLabels: { app: 'other' } }),
      'PodDisruptionBudget selector',
    ],
    [
      'the database URL in the ConfigMap',
      (k) => {
        k('ConfigMap').data!['KEYLANE_DATABASE_URL'] = 'postgres://keylane:pw@db:5432/keylane';
        container(k('Deployment')).env = container(k('Deployment')).env.filter(
          (e) => e.name !== 'KEYLANE_DATABASE_URL',
        );
      },
      'ConfigMap holds KEYLANE_DATABASE_URL',
    ],
    [
      'the database URL as a plain value',
      (k) => {
        const entry = container(k('Deployment')).env.find(
          (e) => e.name === 'KEYLANE_DATABASE_URL',
        )!;
        delete entry.valueFrom;
        entry.value = 'postgres://keylane:pw@db:5432/keylane';
      },
      'KEYLANE_DATABASE_URL does not come from a secretKeyRef',
    ],
    [
      'running as root',
      (k) => (pod(k('Deployment')).securityContext = { runAsUser: 0 }),
      'runAsNonRoot',
    ],
    [
      'no scrape annotation',
      (k) => delete annotations(k('Deployment'))['prometheus.io/scrape'],
      'prometheus.io/scrape',
    ],
    [
      'a scrape port other than KEYLANE_PORT',
      (k) => (annotations(k('Deployment'))['prometheus.io/port'] = '9090'),
      'prometheus.io/port is "9090"',
    ],
    [
      'a scrape path the service does not serve',
      (k) => (annotations(k('Deployment'))['prometheus.io/path'] = '/prometheus'),
      'prometheus.io/path is "/prometheus"',
    ],
    [
      'a manifest left out of the kustomization',
      (k) => (k('Kustomization').resources = ['configmap.yaml', 'deployment.yaml', 'service.yaml']),
      'does not list pdb.yaml',
    ],
  ];

  it.each(cases)('fails on %s', (_what, change, expected) => {
    const problems = checkManifests(doctored(change), FILES);
    expect(problems.join('\n')).toContain(expected);
  });
});

describe('docker/observability/servicemonitor.yaml', () => {
  const monitor = loadManifests(`${REPO_ROOT}/docker/observability`).find(
    (m) => m.manifest.kind === 'ServiceMonitor',
  )!.manifest;

  it('scrapes the headless Service on its http port and the metrics path', () => {
    expect(checkServiceMonitor(monitor, MANIFESTS)).toEqual([]);
  });

  it.each<[string, (m: Manifest) => void, string]>([
    [
      'a selector matching nothing',
      (m) => ((m.spec as { selector: unknown }).selector = { matchLabels: { app: 'other' } }),
      'selector does not match',
    ],
    [
      'a port the Service does not name',
      (m) => ((m.spec as { endpoints: Array<{ port: string }> }).endpoints[0]!.port = 'metrics'),
      'port "metrics" is not a named port',
    ],
    [
      'another path',
      (m) => ((m.spec as { endpoints: Array<{ path: string }> }).endpoints[0]!.path = '/stats'),
      'path is "/stats"',
    ],
  ])('fails on %s', (_what, change, expected) => {
    const copy = structuredClone(monitor);
    change(copy);
    expect(checkServiceMonitor(copy, MANIFESTS).join('\n')).toContain(expected);
  });
});

describe('docker/k8s/examples/example-caller.yaml', () => {
  const [caller] = loadManifests(`${DIR}/examples`).map((m) => m.manifest);

  it('discovers the headless Service by DNS with variables the caller accepts', () => {
    expect(caller?.kind).toBe('Deployment');
    expect(checkCallerManifest(caller!, MANIFESTS)).toEqual([]);
  });

  it.each<[string, (env: Array<{ name: string; value?: string }>) => void, string]>([
    [
      'a port other than the Service port',
      (env) => (env.find((e) => e.name === 'KEYLANE_DNS_PORT')!.value = '9090'),
      'KEYLANE_DNS_PORT is 9090',
    ],
    [
      'another name',
      (env) =>
        (env.find((e) => e.name === 'KEYLANE_DNS_NAME')!.value = 'items.default.svc.cluster.local'),
      'not the Service keylane-items',
    ],
    [
      'a variable the caller does not accept',
      (env) => env.push({ name: 'KEYLANE_DNS', value: 'x' }),
      'sets KEYLANE_DNS,',
    ],
    [
      'both a list and a name',
      (env) => env.push({ name: 'KEYLANE_INSTANCES', value: 'http://a:8080' }),
      'are both set',
    ],
  ])('fails on %s', (_what, change, expected) => {
    const copy = structuredClone(caller!);
    change(container(copy).env);
    expect(checkCallerManifest(copy, MANIFESTS).join('\n')).toContain(expected);
  });
});
