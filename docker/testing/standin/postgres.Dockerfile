# STAND-IN for the official postgres:15-bookworm image (Docker Hub is unreachable here): Debian
# bookworm's PostgreSQL 15 on the stand-in debian base, with an entrypoint that honours what the
# cluster uses of the official one: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA,
# /docker-entrypoint-initdb.d (*.sql, *.sh), password (scram-sha-256) auth from other hosts,
# listen on every address, run as `postgres`, SIGINT to stop (fast shutdown).
ARG BASE_IMAGE=keylane-standin/debian:bookworm-slim
FROM ${BASE_IMAGE}
LABEL org.keylane.standin="true" \
      org.keylane.standin.for="postgres:15-bookworm" \
      org.opencontainers.image.title="keylane stand-in postgres" \
      org.opencontainers.image.description="NOT the official postgres image: Debian's postgresql-15 with a compatible entrypoint, for the Keylane cluster tests"
# Like the official image: no cluster from the package's postinst, the entrypoint makes one.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main.conf \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/run/postgresql /docker-entrypoint-initdb.d \
 && chown postgres:postgres /var/run/postgresql && chmod 2777 /var/run/postgresql
ENV PATH=$PATH:/usr/lib/postgresql/15/bin PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
