import { normalize } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { HEALTH_LIVE_PATH } from '@keylane/protocol';
import {
  envOf,
  instructionsOf,
  lastOf,
  parseDockerfile,
  stage,
  type Dockerfile,
} from './lib/dockerfile.js';
import { readJson, readRepoFile } from './lib/repo.js';

/**
 * The Dockerfiles as text: stages, user, command, health check, environment, pinned versions.
 * What only a build shows (what the runtime /app holds, the context, the CMD and HEALTHCHECK
 * in a real container) is checked on the real images by packages/cluster-tests.
 */

interface Image {
  dockerfile: string;
  packageDir: string;
  packageName: string;
  binName: string;
}

const ITEM_SERVICE: Image = {
  dockerfile: 'docker/item-service.Dockerfile',
  packageDir: 'services/item-service',
  packageName: '@keylane/item-service',
  binName: 'keylane-item-service',
};
const CART_SERVICE: Image = {
  dockerfile: 'docker/cart-service.Dockerfile',
  packageDir: 'services/cart-service',
  packageName: '@keylane/cart-service',
  binName: 'keylane-cart-service',
};
const CALLER: Image = {
  dockerfile: 'docker/example-caller.Dockerfile',
  packageDir: 'services/example-caller',
  packageName: '@keylane/example-caller',
  binName: 'keylane-example-caller',
};

interface Manifest {
  name: string;
  bin: Record<string, string>;
  devDependencies?: Record<string, string>;
  engines?: { node?: string };
  packageManager?: string;
}

const ROOT_MANIFEST = readJson<Manifest>('package.json');

function runtimeOf(file: Dockerfile): ReturnType<typeof stage> {
  return file.stages.at(-1)!;
}

describe.each([ITEM_SERVICE, CART_SERVICE, CALLER])('$dockerfile as text', (image) => {
  const file = parseDockerfile(readRepoFile(image.dockerfile));
  const runtime = runtimeOf(file);
  const manifest = readJson<Manifest>(`${image.packageDir}/package.json`);

  it('has the prune, build and runtime stages, the runtime on the same Node image as the build', () => {
    expect(file.stages.map((s) => s.name)).toEqual(['base', 'prune', 'build', 'runtime']);
    expect(runtime.from).toBe(stage(file, 'base').from);
    // The image's Node major is the one package.json's engines field names.
    const major = /(\d+)/.exec(manifest.engines?.node ?? '')?.[1];
    expect(runtime.from).toMatch(new RegExp(`^node:${major}\\.`));
  });

  it('pins the pnpm of packageManager and the turbo of the lockfile', () => {
    expect(`pnpm@${file.globalArgs['PNPM_VERSION']}`).toBe(ROOT_MANIFEST.packageManager);
    expect(file.globalArgs['TURBO_VERSION']).toBe(
      readJson<{ version: string }>('node_modules/turbo/package.json').version,
    );
  });

  it('prunes, builds and deploys this package and no other', () => {
    const runs = [
      ...instructionsOf(stage(file, 'prune'), 'RUN'),
      ...instructionsOf(stage(file, 'build'), 'RUN'),
    ].map((i) => i.rest);
    expect(runs.some((r) => r.includes(` prune ${image.packageName} --docker `))).toBe(true);
    expect(runs.some((r) => r.includes(`turbo run build --filter=${image.packageName}...`))).toBe(
      true,
    );
    expect(runs.some((r) => r.includes(`--filter=${image.packageName} deploy --prod`))).toBe(true);
    expect(runs.some((r) => /(^|\s)pnpm install --frozen-lockfile/.test(r))).toBe(true);
  });

  it('runs as node, from /app, with NODE_ENV=production', () => {
    expect(lastOf(runtime, 'USER')?.rest).toBe('node');
    expect(lastOf(runtime, 'WORKDIR')?.rest).toBe('/app');
    expect(envOf(runtime)['NODE_ENV']).toBe('production');
    // No build stage sets NODE_ENV: pnpm would then skip the dev dependencies the build needs.
    for (const s of file.stages.slice(0, -1)) expect(envOf(s)['NODE_ENV']).toBeUndefined();
  });

  it("starts the package's bin in exec form, so SIGTERM reaches node", () => {
    expect(lastOf(runtime, 'ENTRYPOINT')).toBeUndefined();
    const cmd = lastOf(runtime, 'CMD')?.exec;
    expect(cmd).toBeDefined();
    expect(cmd![0]).toBe('node');
    expect(normalize(cmd![1]!)).toBe(normalize(manifest.bin[image.binName]!));
    expect(lastOf(runtime, 'STOPSIGNAL')?.rest ?? 'SIGTERM').toBe('SIGTERM');
  });

  it('copies into the runtime stage only what the build stage deployed, nothing from the context', () => {
    const copies = instructionsOf(runtime, 'COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      expect(copy.flags['from']).toEqual(['build']);
      expect(copy.rest).toMatch(/^\/deploy\//);
    }
    expect(instructionsOf(runtime, 'RUN')).toEqual([]);
  });

  it('takes the CA bundle for inspected TLS only as a build secret, never into an image', () => {
    for (const s of file.stages) {
      expect(envOf(s)['NODE_EXTRA_CA_CERTS']).toBeUndefined();
      for (const copy of instructionsOf(s, 'COPY')) expect(copy.rest).not.toMatch(/\.(crt|pem)\b/);
    }
    // Every step that reaches the npm registry: the secret mounted, the helper in front.
    const network = ['base', 'prune', 'build']
      .flatMap((name) => instructionsOf(stage(file, name), 'RUN'))
      .filter((i) => /\b(npm install|npx -y|pnpm install|deploy --prod)\b/.test(i.rest));
    expect(network).toHaveLength(4);
    for (const step of network) {
      expect(step.flags['mount']).toContain('type=secret,id=extra-ca');
      expect(step.rest).toMatch(/^with-build-ca /);
    }
  });

  if (image === ITEM_SERVICE || image === CART_SERVICE) {
    it('checks liveness in exec form and exposes the port it listens on', () => {
      const check = lastOf(runtime, 'HEALTHCHECK');
      expect(check?.exec?.[0]).toBe('node');
      expect(check!.exec!.join(' ')).toContain(HEALTH_LIVE_PATH);
      const port = envOf(runtime)['KEYLANE_PORT'];
      expect(port).toBeDefined();
      expect(instructionsOf(runtime, 'EXPOSE').map((e) => e.rest)).toEqual([port]);
    });
  }
});
