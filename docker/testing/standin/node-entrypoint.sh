#!/bin/sh
# Same rule as the official node image's entrypoint: a first argument that is an option, or
# not a command, or a non-executable file, is handed to node.
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
