#!/bin/sh
# Runs the pnpm pinned in package.json without any global install: corepack's
# signature check fails on this registry, so the first install comes through npx,
# later calls use the copy the install put in node_modules.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$here/node_modules/.bin/pnpm" ]; then
  exec "$here/node_modules/.bin/pnpm" "$@"
fi
exec npx -y pnpm@10.34.9 "$@"
