#!/usr/bin/env bash
# The real container path for the cluster tests, idempotent: installs what is missing (Debian's
# docker.io, debootstrap, iptables, and compose v2 taken from Debian trixie's docker-compose
# package), starts dockerd when it is not running, builds the stand-in base images (Docker Hub
# is unreachable here) and the project's images with the project's own Dockerfiles, then brings
# the compose cluster up and waits until every service is healthy.
#
#   bash docker/testing/cluster.sh up [--unsafe]  # everything above; ~4 min cold, seconds warm
#   bash docker/testing/cluster.sh images        # install + dockerd + images, no cluster
#   bash docker/testing/cluster.sh down          # remove the cluster's containers and volumes
#   bash docker/testing/cluster.sh compose ARGS  # docker compose with the cluster's files
#   bash docker/testing/cluster.sh docker ARGS   # the docker client this script uses
#   bash docker/testing/cluster.sh build PROGRAM [ARGS]  # one image's build as `images` runs it
#   bash docker/testing/cluster.sh info          # one line of JSON: project, files, client
#
# --unsafe (or KEYLANE_CLUSTER_UNSAFE=1) adds compose.unsafe.yaml: the same fleet with a
# strategy that is known to go stale, for the harness to prove it can see a failure.
# State that outlives a run (dockerd's log, the compose plugin) lives in
# KEYLANE_CLUSTER_STATE (default /var/cache/keylane-cluster); images live in dockerd.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${KEYLANE_CLUSTER_STATE:-/var/cache/keylane-cluster}
# Debian's client: the docker first on PATH on these machines is a newer one without buildx,
# and BuildKit builds need the daemon-side builder that this one talks to.
DOCKER=/usr/bin/docker
export DOCKER_CONFIG="$state/docker-config"
export DOCKER_BUILDKIT=1
export COMPOSE_PROJECT_NAME=${KEYLANE_CLUSTER_PROJECT:-keylane-cluster}
# Stand-ins are named for what they replace under a prefix of their own, so they never pass
# for the official images; the project's files take the names as build args / variables.
STANDIN=keylane-standin
NODE_IMAGE="$STANDIN/node:20.20-bookworm-slim"

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

compose_files() {
  echo "$repo/docker/compose.yaml"
  echo "$here/compose.cluster.yaml"
  if [ "${KEYLANE_CLUSTER_UNSAFE:-0}" = 1 ]; then echo "$here/compose.unsafe.yaml"; fi
}

compose() {
  local file args=()
  while read -r file; do args+=(-f "$file"); done < <(compose_files)
  "$DOCKER" compose "${args[@]}" "$@"
}

install_packages() {
  local missing=()
  [ -x /usr/bin/docker ] && command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v nsenter >/dev/null || missing+=(util-linux)
  [ ${#missing[@]} -eq 0 ] && return 0
  local t; t=$(date +%s)
  log "installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "installed in $(elapsed "$t")"
}

# Compose v2: bookworm's docker-compose is 1.29 (it refuses the top-level `name:`); trixie's
# package carries the v2 CLI plugin, a static Go binary that runs here. Fetched with apt from
# Debian's archive into private lists, so the host's apt sources stay as they are.
install_compose() {
  local plugin="$DOCKER_CONFIG/cli-plugins/docker-compose"
  if [ -x "$plugin" ] && "$DOCKER" compose version >/dev/null 2>&1; then return 0; fi
  local t; t=$(date +%s)
  log "fetching compose v2 from Debian trixie's docker-compose package"
  local apt="$state/apt-trixie"
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$DOCKER_CONFIG/cli-plugins"
  cat >"$apt/sources.list" <<SOURCES
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
SOURCES
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::Archives=$apt/archives"
    -o "Dir::Cache=$apt" -o Dir::State::status=/dev/null -o APT::Architecture=amd64
    -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update -qq
  (cd "$apt/archives" && apt-get "${opts[@]}" download -qq docker-compose)
  local deb; deb=$(ls -t "$apt"/archives/docker-compose_*.deb | head -1)
  rm -rf "$apt/extract" && mkdir -p "$apt/extract"
  dpkg-deb -x "$deb" "$apt/extract"
  install -m 0755 "$apt/extract/usr/libexec/docker/cli-plugins/docker-compose" "$plugin"
  rm -rf "$apt/extract" "$apt/lists" "$apt/pkgcache.bin" "$apt/srcpkgcache.bin"
  log "compose $("$DOCKER" compose version --short) installed in $(elapsed "$t")"
}

start_dockerd() {
  if "$DOCKER" info >/dev/null 2>&1; then return 0; fi
  local t; t=$(date +%s)
  log "starting dockerd (no systemd here), log in $state/dockerd.log"
  mkdir -p "$state"
  # Its own session: it outlives this script and is not hit by the terminal's signals.
  setsid dockerd >"$state/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    if "$DOCKER" info >/dev/null 2>&1; then log "dockerd up in $(elapsed "$t")"; return 0; fi
    sleep 0.5
  done
  tail -20 "$state/dockerd.log" >&2
  die "dockerd did not answer within 60 s"
}


recipe_label=org.keylane.standin.recipe
# The recipe of a stand-in: its files, the base it is built on, and anything else it takes.
recipe() { cat "$@" | sha256sum | cut -c1-16; }
image_recipe() { "$DOCKER" image inspect -f "{{index .Config.Labels \"$recipe_label\"}}" "$1" 2>/dev/null || true; }
image_id() { "$DOCKER" image inspect -f '{{.Id}}' "$1"; }

# debian:bookworm-slim: a minbase debootstrap of bookworm from Debian's archive, imported.
build_debian() {
  local image="$STANDIN/debian:bookworm-slim" want
  want=$(printf 'debootstrap --variant=minbase bookworm v1\n' | recipe)
  [ "$(image_recipe "$image")" = "$want" ] && return 0
  local t root; t=$(date +%s); root=$(mktemp -d)
  log "building $image (debootstrap minbase bookworm, about a minute)"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$state/debootstrap.log" 2>&1 ||
    { tail -20 "$state/debootstrap.log" >&2; die "debootstrap failed (log: $state/debootstrap.log)"; }
  # As in Docker's images: daemons are not started by package installs inside a build.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod 0755 "$root/usr/sbin/policy-rc.d"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -c . | "$DOCKER" import \
    --change "LABEL org.keylane.standin=true org.keylane.standin.for=debian:bookworm-slim $recipe_label=$want" \
    --change 'LABEL org.opencontainers.image.description="NOT the official debian image: a debootstrap of bookworm (minbase) made for the Keylane cluster tests"' \
    --change 'CMD ["bash"]' - "$image" >/dev/null
  rm -rf "$root"
  log "$image built in $(elapsed "$t")"
}

# node, postgres, redis: each a Dockerfile in standin/ on top of the debian stand-in.
build_standin() { # name tag context-dir files...
  local name=$1 tag=$2 context=$3; shift 3
  local image="$STANDIN/$name:$tag" base want
  base=$(image_id "$STANDIN/debian:bookworm-slim")
  want=$( { cat "$@"; echo "$base"; if [ "$name" = node ]; then node --version; fi; } | recipe)
  [ "$(image_recipe "$image")" = "$want" ] && return 0
  local t; t=$(date +%s)
  log "building $image"
  "$DOCKER" build -q --network host -f "$here/standin/$name.Dockerfile" \
    --build-arg "NODE_VERSION=$(node --version | sed 's/^v//')" \
    --label "$recipe_label=$want" -t "$image" "$context" >/dev/null || die "building $image failed"
  log "$image built in $(elapsed "$t")"
}

build_standins() {
  build_debian
  # The node stand-in's context: this machine's node binary and npm, and the entrypoint.
  local ctx; ctx=$(mktemp -d)
  cp "$(readlink -f "$(command -v node)")" "$ctx/node"
  cp -a "$(npm root -g)/npm" "$ctx/npm"
  cp "$here/standin/node-entrypoint.sh" "$ctx/docker-entrypoint.sh"
  build_standin node 20.20-bookworm-slim "$ctx" "$here/standin/node.Dockerfile" "$here/standin/node-entrypoint.sh"
  rm -rf "$ctx"
}

# Postgres and Redis: mostly downloading Debian packages, so they build beside the project's
# images (mostly CPU) instead of before them.
build_databases() {
  build_standin postgres 15-bookworm "$here/standin" "$here"/standin/postgres.*
  build_standin redis 7-bookworm "$here/standin" "$here"/standin/redis.*
}

# The project's images, with the project's Dockerfiles and the repository as the context. The
# layer cache makes a warm rebuild cost the context upload and a cached prune. When this
# machine's outgoing TLS is inspected, npm inside the build must trust the same CA bundle as
# the host: it goes in as a build secret (never into an image layer) only when set.
# One program's build: the arguments every build of it takes here, then the caller's own
# (-t, a --target, a doctored `-f -` read from stdin: the last -f wins).
build_program() { # program [docker build args...]
  local program=$1; shift
  local ca=()
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -s "$NODE_EXTRA_CA_CERTS" ]; then
    ca=(--secret "id=extra-ca,src=$NODE_EXTRA_CA_CERTS")
  fi
  "$DOCKER" build -q --network host "${ca[@]}" --build-arg "NODE_IMAGE=$NODE_IMAGE" \
    -f "$repo/docker/$program.Dockerfile" "$@" "$repo"
}

build_project() {
  local program t
  for program in item-service cart-service example-caller; do
    t=$(date +%s)
    build_program "$program" -t "keylane/$program:local" >/dev/null ||
      die "building keylane/$program:local failed (rerun without -q to see why: $DOCKER build -f docker/$program.Dockerfile .)"
    log "keylane/$program:local built in $(elapsed "$t")"
  done
}

prepare() {
  mkdir -p "$state"
  install_packages
  install_compose
  start_dockerd
  build_standins
  build_databases &
  local databases=$!
  build_project
  wait "$databases" || die "building the Postgres or Redis stand-in failed"
}

up() {
  local t; t=$(date +%s)
  # --force-recreate only when the fleet's configuration changed is what compose does anyway.
  compose up -d --wait --no-build --remove-orphans --quiet-pull >/dev/null 2>"$state/compose-up.log" ||
    { cat "$state/compose-up.log" >&2; compose ps -a >&2; die "the cluster did not become healthy"; }
  log "cluster $COMPOSE_PROJECT_NAME up and healthy in $(elapsed "$t")"
}

case "${1:-}" in
  up | images | down | compose | docker | info | install | build) ;;
  *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
cmd=$1; shift
if [ "$cmd" = up ] && [ "${1:-}" = --unsafe ]; then export KEYLANE_CLUSTER_UNSAFE=1; shift; fi
case "$cmd" in
  install) mkdir -p "$state"; install_packages; install_compose; start_dockerd ;;
  images) t0=$(date +%s); prepare; log "images ready in $(elapsed "$t0")" ;;
  up) t0=$(date +%s); prepare; up; log "ready in $(elapsed "$t0")" ;;
  down) compose down -v --remove-orphans --timeout 10 2>/dev/null ;;
  compose) compose "$@" ;;
  build) build_program "$@" ;;
  docker) "$DOCKER" "$@" ;;
  info)
    printf '{"project":"%s","docker":"%s","dockerConfig":"%s","composeFiles":[%s]}\n' \
      "$COMPOSE_PROJECT_NAME" "$DOCKER" "$DOCKER_CONFIG" \
      "$(compose_files | sed 's/.*/"&"/' | paste -sd,)" ;;
esac
