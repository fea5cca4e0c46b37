# STAND-IN for the official node:20.20-bookworm-slim image, which cannot be pulled here (Docker
# Hub is unreachable). Built by docker/testing/cluster.sh from the stand-in debian base and this
# machine's own Node.js 20 (binary and npm), laid out as the official image lays them out:
# /usr/local/bin/node, npm under /usr/local/lib/node_modules, user and group `node` (1000),
# the same docker-entrypoint.sh behaviour, CMD node. The build context is a folder the script
# fills with `node`, `npm/` and docker-entrypoint.sh.
ARG BASE_IMAGE=keylane-standin/debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG NODE_VERSION
LABEL org.keylane.standin="true" \
      org.keylane.standin.for="node:20.20-bookworm-slim" \
      org.opencontainers.image.title="keylane stand-in node" \
      org.opencontainers.image.description="NOT the official node image: a local stand-in built from this machine's Node.js for the Keylane cluster tests"
ENV NODE_VERSION=${NODE_VERSION}
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]
