# STAND-IN for the official redis:7-bookworm image (Docker Hub is unreachable here): Debian
# bookworm's redis-server 7 on the stand-in debian base. Like the official image it runs as
# `redis` in /data and starts with protected mode off (the official build patches the default;
# Debian's binary defaults to on, which would refuse every other container).
ARG BASE_IMAGE=keylane-standin/debian:bookworm-slim
FROM ${BASE_IMAGE}
LABEL org.keylane.standin="true" \
      org.keylane.standin.for="redis:7-bookworm" \
      org.opencontainers.image.title="keylane stand-in redis" \
      org.opencontainers.image.description="NOT the official redis image: Debian's redis-server with the official defaults, for the Keylane cluster tests"
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
