import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceBinMissingError } from './errors.js';

/** The services a fleet can run: each an engine-based HTTP service with the item service's shell. */
export const FLEET_SERVICES = {
  /** The items table (the item service). */
  items: { package: '@keylane/item-service', bin: 'keylane-item-service', idPrefix: 'item' },
  /** The relational example: carts + cart_lines (the cart service). */
  carts: { package: '@keylane/cart-service', bin: 'keylane-cart-service', idPrefix: 'cart' },
} as const;
export type FleetService = keyof typeof FLEET_SERVICES;
export const FLEET_SERVICE_NAMES = Object.keys(FLEET_SERVICES) as FleetService[];

/**
 * How a bundle carries the services, for the one bundler there is (the published `keylane`
 * CLI, packages/cli/scripts/bundle.mjs): the service packages are private, so an installed
 * bundle has no node_modules to resolve them in. The bundler builds each service's entry into
 * `<entryName>.js` beside the code of this module, and applies `define` so that this module
 * knows it runs from a bundle (instead of guessing from which files happen to exist).
 */
export const SERVICE_BUNDLE = {
  define: { KEYLANE_BUNDLED_SERVICES: 'true' },
  entryName: (service: FleetService): string => FLEET_SERVICES[service].bin,
} as const;

// Replaced by `true` in a bundle (SERVICE_BUNDLE.define); undeclared, and so `undefined` to
// typeof, everywhere else.
declare const KEYLANE_BUNDLED_SERVICES: true | undefined;

/**
 * A service's entry script. From a bundle, the file the bundler put beside this code; in the
 * workspace, read from the service package's `bin` so the launcher follows wherever that
 * package puts it. Throws with the build command when it has not been built.
 */
export function resolveServiceBin(service: FleetService = 'items'): string {
  if (typeof KEYLANE_BUNDLED_SERVICES !== 'undefined') {
    const bundled = fileURLToPath(
      new URL(`./${SERVICE_BUNDLE.entryName(service)}.js`, import.meta.url),
    );
    if (!existsSync(bundled)) {
      throw new ServiceBinMissingError(
        `${bundled} is missing from this installation: reinstall it`,
      );
    }
    return bundled;
  }
  const { package: SERVICE_PACKAGE, bin: SERVICE_BIN } = FLEET_SERVICES[service];
  const require = createRequire(import.meta.url);
  let manifestPath: string;
  try {
    manifestPath = require.resolve(`${SERVICE_PACKAGE}/package.json`);
  } catch (err) {
    throw new ServiceBinMissingError(
      `cannot find ${SERVICE_PACKAGE} (${String(err)}); run "pnpm install" at the repository root`,
    );
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    bin?: string | Record<string, string>;
  };
  const relative = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[SERVICE_BIN];
  if (!relative) {
    throw new ServiceBinMissingError(`${manifestPath} declares no "${SERVICE_BIN}" bin`);
  }
  const bin = resolve(dirname(manifestPath), relative);
  if (!existsSync(bin)) {
    throw new ServiceBinMissingError(
      `${bin} does not exist: build ${SERVICE_PACKAGE} first ("pnpm build" at the repository root, ` +
        `or "turbo run build --filter=${SERVICE_PACKAGE}")`,
    );
  }
  return bin;
}
