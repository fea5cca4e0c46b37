import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PACKAGE_DIR, ensureBuilt } from './helpers/dist.js';
import { ItemServer } from './helpers/item-server.js';

const run = promisify(execFile);
const REPO = join(PACKAGE_DIR, '../..');
const PROTOCOL_DIR = join(REPO, 'packages/protocol');

// npm must not inherit pnpm's npm_config_* settings from `pnpm run test`.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_config_')),
);

async function sh(command: string, args: string[], cwd: string): Promise<string> {
  const { stdout } = await run(command, args, { cwd, env: cleanEnv, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

describe('the packed SDK, installed by a caller outside this repo', () => {
  let dir: string;
  let server: ItemServer;

  beforeAll(async () => {
    ensureBuilt();
    dir = await mkdtemp(join(tmpdir(), 'keylane-sdk-pack-'));
    server = await ItemServer.start('packed-1');
  });
  afterAll(async () => {
    await server.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it('installs with npm from the tarballs, imports as ESM, has types, and talks to a real server', async () => {
    const pnpm = join(REPO, 'scripts/pnpm.sh');
    await sh('sh', [pnpm, 'pack', '--pack-destination', dir], PROTOCOL_DIR);
    await sh('sh', [pnpm, 'pack', '--pack-destination', dir], PACKAGE_DIR);
    const { stdout: listing } = await run('tar', ['-tzf', join(dir, 'keylane-sdk-0.1.0.tgz')]);
    expect(listing).toContain('package/dist/index.js');
    expect(listing).toContain('package/dist/index.d.ts');
    expect(listing).toContain('package/README.md');
    expect(listing).not.toContain('package/src/');
    expect(listing).not.toContain('package/test/');
    const packed = JSON.parse(
      (await run('tar', ['-xzOf', join(dir, 'keylane-sdk-0.1.0.tgz'), 'package/package.json'])).stdout,
    ) as { dependencies: Record<string, string> };
    // pnpm pack turns the workspace range into the real version npm can resolve.
    expect(packed.dependencies['@keylane/protocol']).toBe('0.1.0');

    const app = join(dir, 'app');
    await sh('mkdir', ['-p', app], dir);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'caller', private: true, type: 'module' }));
    await sh(
      'npm',
      ['install', '--no-audit', '--no-fund', '--loglevel=error', '../keylane-protocol-0.1.0.tgz', '../keylane-sdk-0.1.0.tgz'],
      app,
    );

    // Types: a strict NodeNext consumer compiles against the published declarations.
    await writeFile(
      join(app, 'check.ts'),
      [
        "import { createClient, createRouter, routingKey, NoHealthyInstanceError, type Item, type ClientOptions } from '@keylane/sdk';",
        "const options: ClientOptions = { instances: ['http://127.0.0.1:1'], routing: 'consistent' };",
        'const client = createClient(options);',
        'const item: Promise<Item | null> = client.get(1n);',
        "client.on('instance-down', (id: string, reason: string) => console.log(id, reason));",
        "const id: string = createRouter('modulo').pick(routingKey(42n), ['a', 'b']);",
        'const e: NoHealthyInstanceError = new NoHealthyInstanceError();',
        "const code: 'no_healthy_instance' = e.code;",
        '// @ts-expect-error routing is a closed set',
        "createClient({ instances: [], routing: 'random' });",
        'void item; void id; void code;',
      ].join('\n'),
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          noEmit: true,
          types: ['node'],
          typeRoots: [join(REPO, 'node_modules/@types')],
        },
        files: ['check.ts'],
      }),
    );
    await sh(join(REPO, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], app);

    // Runtime: plain node, ESM import, against a real server.
    await writeFile(
      join(app, 'use.mjs'),
      [
        "import { createClient } from '@keylane/sdk';",
        'const client = createClient({ instances: [process.argv[2]], healthCheck: { intervalMs: 200 } });',
        'await client.ready();',
        "const put = await client.put('9223372036854775807', { from: 'outside' });",
        'const got = await client.get(2n ** 63n - 1n);',
        'const conflict = await client.put(1n, 1, { ifVersion: 7 }).catch((err) => err.code);',
        'await client.close();',
        'console.log(JSON.stringify({ put, got, conflict }));',
      ].join('\n'),
    );
    const output = JSON.parse(await sh(process.execPath, ['use.mjs', server.url], app)) as Record<string, unknown>;
    const item = { id: '9223372036854775807', value: { from: 'outside' }, version: 1 };
    expect(output).toEqual({ put: item, got: item, conflict: 'version_conflict' });
    expect(server.items.get('9223372036854775807')).toEqual(item);
    const installed = JSON.parse(await readFile(join(app, 'node_modules/@keylane/sdk/package.json'), 'utf8')) as {
      name: string;
    };
    expect(installed.name).toBe('@keylane/sdk');
  }, 120_000);
});
