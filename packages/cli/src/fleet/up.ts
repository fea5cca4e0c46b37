import type { StrategyName } from '@keylane/engine';
import {
  checkDependencies,
  FLEET_SERVICES,
  redact,
  startFleet,
  type Fleet,
  type FleetOptions,
  type FleetService,
} from './index.js';

export interface UpOptions extends Omit<FleetOptions, 'onOutput' | 'onExit'> {
  strategy: StrategyName;
  /** Prefix and forward every instance's output lines to stderr. @default true */
  forwardOutput?: boolean;
}

/** The snippet `keylane up` prints: what a caller pastes to talk to this fleet. */
export function clientSnippet(
  fleet: Pick<Fleet, 'instances'>,
  service: FleetService = 'items',
): string {
  const lines = fleet.instances.map((i) => `    { id: '${i.id}', url: '${i.url}' },`);
  return [
    "import { createClient } from '@keylane/sdk';",
    '',
    'const client = createClient({',
    '  instances: [',
    ...lines,
    '  ],',
    '});',
    'await client.ready();',
    // The cart service has routes of its own: reached through the same routing with request().
    ...(service === 'carts'
      ? [
          "await client.request(42n, { method: 'PUT', path: '/v1/carts/42/lines/tea', body: { qty: 2, priceCents: 450 } });",
          "const { body: cart } = await client.request(42n, { path: '/v1/carts/42' });",
        ]
      : []),
  ].join('\n');
}

/**
 * `keylane up`: starts the fleet, prints where it is, and keeps it running until SIGINT or
 * SIGTERM, then stops every instance (a second signal kills them at once). Resolves with the
 * exit code.
 */
export async function runUp(
  options: UpOptions,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  await checkDependencies(options.databaseUrl, options.redisUrl);
  const forward = options.forwardOutput ?? true;
  let stopping = false;
  let started = false; // while starting, a dead instance fails the start (and says why) instead
  const fleet = await startFleet({
    ...options,
    ...(forward ? { onOutput: (id: string, line: string) => err.write(`[${id}] ${line}\n`) } : {}),
    onExit(id, info) {
      if (started && !info.expected && !stopping) {
        err.write(
          `keylane: ${id} exited unexpectedly (${info.signal ?? `code ${info.code}`}); the others keep running. Ctrl-C stops them.\n`,
        );
      }
    },
  });

  started = true;
  out.write(
    [
      `keylane: ${fleet.instances.length} ${FLEET_SERVICES[options.service ?? 'items'].package.replace('@keylane/', '')} instance${fleet.instances.length === 1 ? '' : 's'} ready ` +
        `(strategy ${options.strategy}, schema ${options.schema}, key prefix ${options.prefix})`,
      `  Postgres ${redact(options.databaseUrl)}`,
      `  Redis    ${redact(options.redisUrl)}`,
      '',
      ...fleet.instances.map((i) => `  ${i.id.padEnd(8)} ${i.url}  (pid ${i.pid ?? '?'})`),
      '',
      'Paste into a caller:',
      '',
      clientSnippet(fleet, options.service)
        .split('\n')
        .map((l) => (l ? `  ${l}` : l))
        .join('\n'),
      '',
      'Ctrl-C (or SIGTERM) stops them all.',
      '',
    ].join('\n'),
  );

  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // A second Ctrl-C: the person does not want to wait for the drain.
        for (const i of fleet.instances) void fleet.kill(i.id, 'SIGKILL');
        return;
      }
      stopping = true;
      err.write(
        `keylane: ${signal}, stopping ${fleet.instances.length} instance(s) (each drains first: KEYLANE_DRAIN_MS, default 5 s; Ctrl-C again to kill now)...\n`,
      );
      fleet.stop().then(
        () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.off('SIGHUP', onSignal);
          err.write('keylane: all instances stopped.\n');
          resolve(0);
        },
        (e: unknown) => {
          err.write(`keylane: stopping failed: ${String(e)}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // The terminal closing: the instances are in their own process group and would not hear it.
    process.on('SIGHUP', onSignal);
  });
}
