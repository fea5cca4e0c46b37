# The example caller image (a tiny @keylane/sdk program). Build from the repository root:
#   docker build -f docker/example-caller.Dockerfile -t keylane/example-caller .
# Same stages as docker/item-service.Dockerfile: prune, install from the pruned lockfile,
# build, deploy production dependencies only into a slim non-root runtime stage.

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
RUN --mount=type=secret,id=extra-ca with-build-ca npm install -g pnpm@${PNPM_VERSION}

FROM base AS prune
ARG TURBO_VERSION
WORKDIR /src
COPY . .
RUN --mount=type=secret,id=extra-ca with-build-ca npx -y turbo@${TURBO_VERSION} prune @keylane/example-caller --docker --out-dir /pruned

FROM base AS build
WORKDIR /app
COPY --from=prune /pruned/json/ ./
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store --mount=type=secret,id=extra-ca \
    with-build-ca pnpm install --frozen-lockfile
COPY --from=prune /pruned/full/ ./
COPY tsconfig.base.json ./
# Direct, not through `pnpm exec` (see item-service.Dockerfile).
RUN node_modules/.bin/turbo run build --filter=@keylane/example-caller...
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store --mount=type=secret,id=extra-ca \
    with-build-ca pnpm --filter=@keylane/example-caller deploy --prod --legacy /deploy

FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="keylane-example-caller" \
      org.opencontainers.image.description="Writes and reads items on a Keylane fleet through @keylane/sdk"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /deploy/package.json ./package.json
COPY --from=build /deploy/dist ./dist
COPY --from=build /deploy/node_modules ./node_modules
USER node
# No port and no HEALTHCHECK: it serves nothing; its logs are its output.
STOPSIGNAL SIGTERM
CMD ["node", "dist/bin.js"]
