import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { ServiceBinMissingError } from './errors.js';

const SERVICE_PACKAGE = '@keylane/item-service';
const SERVICE_BIN = 'keylane-item-service';

/**
 * The item service's entry script, read from its package.json `bin` so the launcher follows
 * wherever that package puts it. Throws with the build command when it has not been built.
 */
export function resolveServiceBin(): string {
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
      `${bin} does not exist: build the item service first ("pnpm build" at the repository root, ` +
        `or "turbo run build --filter=@keylane/item-service")`,
    );
  }
  return bin;
}
