import type { Items } from '@keylane/engine/items';
import { ITEMS_PATH, parseLongId, type PutItemBody } from '@keylane/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { reply as errorReply } from '../error-reply.js';
import { sendError } from '../send-error.js';

interface IdParams {
  id: string;
}

/**
 * `value` is any JSON (null included); `ifVersion` must already be a number: Ajv runs
 * without type coercion, so `"3"` is refused instead of becoming 3. Unknown fields are
 * refused too, so a typo such as `ifversion` cannot turn a conditional write into a blind one.
 */
export const PUT_BODY_SCHEMA = {
  type: 'object',
  required: ['value'],
  additionalProperties: false,
  properties: {
    value: {},
    ifVersion: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  },
} as const;

export const ITEM_ROUTE = `${ITEMS_PATH}/:id`;

export function registerItemRoutes(app: FastifyInstance, items: Items): void {
  // The id is checked before the body is read: a bad id costs nothing and answers
  // invalid_id whatever the body holds.
  const onRequest = (
    request: FastifyRequest<{ Params: IdParams }>,
    _reply: FastifyReply,
    done: (err?: Error) => void,
  ): void => {
    try {
      parseLongId(request.params.id);
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  };

  app.get<{ Params: IdParams }>(ITEM_ROUTE, { onRequest }, async (request, reply) => {
    const item = await items.read(parseLongId(request.params.id));
    if (item === null)
      return sendError(reply, errorReply('not_found', `item ${request.params.id} does not exist`));
    return item;
  });

  app.put<{ Params: IdParams; Body: PutItemBody }>(
    ITEM_ROUTE,
    { onRequest, schema: { body: PUT_BODY_SCHEMA } },
    async (request) => {
      const { value, ifVersion } = request.body;
      return items.write(
        parseLongId(request.params.id),
        value,
        ifVersion === undefined ? {} : { ifVersion },
      );
    },
  );

  app.delete<{ Params: IdParams }>(ITEM_ROUTE, { onRequest }, async (request, reply) => {
    if (await items.delete(parseLongId(request.params.id))) return reply.code(204).send();
    return sendError(reply, errorReply('not_found', `item ${request.params.id} does not exist`));
  });
}
