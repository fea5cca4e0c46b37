# syntax=docker/dockerfile:1
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
RUN npm install -g pnpm@${PNPM_VERSION}

FROM base AS prune
ARG TURBO_VERSION
WORKDIR /src
COPY . .
RUN npx -y turbo@${TURBO_VERSION} prune @keylane/example-caller --docker --out-dir /pruned

FROM base AS build
WORKDIR /app
COPY --from=prune /pruned/json/ ./
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store pnpm install --frozen-lockfile
COPY --from=prune /pruned/full/ ./
COPY tsconfig.base.json ./
# Direct, not through `pnpm exec` (see item-service.Dockerfile).
RUN node_modules/.bin/turbo run build --filter=@keylane/example-caller...
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm --filter=@keylane/example-caller deploy --prod --legacy /deploy

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
