// The bare HTTP hop's far end: a Fastify handler that answers an item-sized JSON body and does
// nothing else. Runs as a child process (like an item-service instance) so it does not share
// the bench's event loop. Prints its URL as the first stdout line; exits on SIGTERM.
//
// `hop-server.js <redis url> <key prefix>`: each request does one Redis GET of
// `<prefix><id>` (ioredis with auto-pipelining, as the engine's cache client) and answers the
// bytes it got, the least a read hit through a cache service can do.
//
// GET /metrics answers `process_cpu_seconds_total` from process.cpuUsage(), the source
// prom-client reads for the item service's series of that name, so the bench measures the CPU
// of both servers the same way.
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { METRICS_PATH } from '@keylane/protocol';

const BODY = JSON.stringify({ id: '9223372036854775807', value: { name: 'bench' }, version: 1 });

const [redisUrl, prefix = ''] = process.argv.slice(2);
const redis = redisUrl
  ? new Redis(redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: 1 })
  : null;

const app = Fastify({ logger: false });
app.get<{ Params: { id: string } }>('/v1/items/:id', async (request, reply) => {
  if (!redis) return reply.type('application/json').send(BODY);
  const cached = await redis.get(`${prefix}${request.params.id}`);
  if (cached === null) return reply.code(404).send();
  return reply.type('application/json').send(cached);
});
app.get(METRICS_PATH, async (_request, reply) => {
  const { user, system } = process.cpuUsage();
  return reply.type('text/plain').send(`process_cpu_seconds_total ${(user + system) / 1e6}\n`);
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${url}\n`);
const stop = (): void => {
  void app
    .close()
    .then(() => redis?.quit())
    .then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
