// The bare HTTP hop's far end: a Fastify handler that answers a fixed item-sized JSON body
// and does nothing else. Runs as a child process (like an item-service instance) so it does not
// share the bench's event loop. Prints its URL as the first stdout line; exits on SIGTERM.
import Fastify from 'fastify';

const BODY = JSON.stringify({ id: '9223372036854775807', value: { name: 'bench' }, version: 1 });

const app = Fastify({ logger: false });
app.get('/v1/items/:id', async (_request, reply) => reply.type('application/json').send(BODY));
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${url}\n`);
const stop = (): void => {
  void app.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
