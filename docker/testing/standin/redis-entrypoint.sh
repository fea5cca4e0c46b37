#!/bin/sh
# The official redis entrypoint's rules (options alone go to redis-server; drop root to
# `redis`), plus protected mode off unless the arguments or a config file say otherwise: the
# official image's redis-server is built with that default.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  case " $* " in
    *" --protected-mode "* | *.conf" "*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
  if [ "$(id -u)" = 0 ]; then
    chown -R redis:redis .
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
