# The cart service image (the relational example on the entity API). Build from the repository root:
#   docker build -f docker/cart-service.Dockerfile -t keylane/cart-service .
# Stages: the item service's (docker/item-service.Dockerfile), for this package: prune the monorepo to
# the service and its workspace dependencies (the item service among them: its HTTP shell),
# install from the pruned lockfile, build, then copy a production-only deployment
# (pnpm deploy --prod) into a slim runtime stage that runs as the unprivileged `node` user.
# packages/deploy-tests runs these same steps outside Docker and checks the result
# (root README, "Deployment").

# Keep in step with the repository: PNPM_VERSION is package.json's packageManager, TURBO_VERSION
# the locked turbo, the Node major the engines field (the deploy tests compare them).
ARG NODE_IMAGE=node:20.20-bookworm-slim
ARG PNPM_VERSION=10.34.9
ARG TURBO_VERSION=2.11.11

FROM ${NODE_IMAGE} AS base
ARG PNPM_VERSION
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH CI=true TURBO_TELEMETRY_DISABLED=1
# Where outgoing TLS is inspected, the builder passes the CA bundle the host trusts as the
# build secret `extra-ca` (docker/testing/cluster.sh does when NODE_EXTRA_CA_CERTS is set);
# `with-build-ca` hands it to npm and pnpm for one step. It is never written to a layer, and
# without the secret the step runs as it is.
RUN printf '%s\n' '#!/bin/sh' \
      'if [ -s /run/secrets/extra-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra-ca; fi' \
      'exec "$@"' >/usr/local/bin/with-build-ca && chmod 0755 /usr/local/bin/with-build-ca
# A global pnpm is fine inside a throwaway build stage; the runtime stage has none.
RUN --mount=type=secret,id=extra-ca with-build-ca npm install -g pnpm@${PNPM_VERSION}

FROM base AS prune
ARG TURBO_VERSION
WORKDIR /src
COPY . .
RUN --mount=type=secret,id=extra-ca with-build-ca npx -y turbo@${TURBO_VERSION} prune @keylane/cart-service --docker --out-dir /pruned

FROM base AS build
WORKDIR /app
# Manifests and lockfile first: this layer stays cached until a dependency changes.
COPY --from=prune /pruned/json/ ./
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store --mount=type=secret,id=extra-ca \
    with-build-ca pnpm install --frozen-lockfile
COPY --from=prune /pruned/full/ ./
# turbo prune copies workspace packages and root manifests, not shared root config: every
# package's tsconfig extends this file.
COPY tsconfig.base.json ./
# The workspace's own turbo, called directly: under `pnpm exec` PATH starts with the relative
# ./node_modules/.bin, turbo picks the pnpm found there and cannot spawn it from each
# package's folder.
RUN node_modules/.bin/turbo run build --filter=@keylane/cart-service...
# A self-contained copy of the service with production dependencies only; workspace
# packages come along as their packed files (dist/), not their sources. --legacy: the
# newer deploy needs inject-workspace-packages, which the workspace does not set.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store --mount=type=secret,id=extra-ca \
    with-build-ca pnpm --filter=@keylane/cart-service deploy --prod --legacy /deploy

FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="keylane-cart-service" \
      org.opencontainers.image.description="One instance of the Keylane cart service (carts + cart_lines)"
ENV NODE_ENV=production KEYLANE_PORT=8080 KEYLANE_HOST=0.0.0.0
WORKDIR /app
# Owned by root and not writable by the service: it only reads its code.
COPY --from=build /deploy/package.json ./package.json
COPY --from=build /deploy/dist ./dist
COPY --from=build /deploy/node_modules ./node_modules
USER node
EXPOSE 8080
# Liveness only: readiness (Postgres, Redis, draining) is for load balancers, and a container
# must not be restarted because its database is briefly away.
HEALTHCHECK --interval=10s --timeout=2s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.KEYLANE_PORT||8080)+'/healthz/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form, no shell in between: SIGTERM reaches node itself and starts the drain (compose
# `init: true` and Kubernetes reap zombies; node handles its own signals).
STOPSIGNAL SIGTERM
CMD ["node", "dist/bin.js"]
