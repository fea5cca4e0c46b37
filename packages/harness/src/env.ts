/** Where the suites find Postgres and Redis; CI and DEVELOPERS.md use these defaults. */
export const TEST_DATABASE_URL =
  process.env['KEYLANE_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env['KEYLANE_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export const START_POSTGRES =
  'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';
export const START_REDIS =
  'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log';
