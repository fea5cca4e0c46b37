import type { Items } from '@keylane/engine/items';
import { ITEMS_PATH, longIdText, type PutItemBody } from '@keylane/protocol';
import type { FastifyInstance } from 'fastify';
import { reply as errorReply } from '../error-reply.js';
import { sendError } from '../send-error.js';
import { keyedRequestHooks } from './keyed-request.js';

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

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export interface ItemRoutesOptions {
  /** Allowance for caller-vs-instance clock skew: deadlines count as passed this much earlier. */
  clockSkewMs: number;
}

export function registerItemRoutes(app: FastifyInstance, items: Items, options: ItemRoutesOptions): void {
  // The id and the deadline are checked before the body is read: a bad id answers invalid_id
  // whatever the body holds.
  const { onRequest, callOf, deadlineOf } = keyedRequestHooks<IdParams>({
    clockSkewMs: options.clockSkewMs,
    checkParams: (params) => void longIdText(params.id),
  });

  // The hit path: the id checked once (onRequest) and used as the text it already is, the
  // cached item's wire JSON sent as it came from Redis (the items codec writes exactly that).
  app.get<{ Params: IdParams }>(ITEM_ROUTE, { onRequest }, async (request, reply) => {
    const deadline = deadlineOf(request);
    const text = await items.readText(request.params.id, deadline === undefined ? {} : { deadline });
    if (text === null)
      return sendError(reply, errorReply('not_found', `item ${request.params.id} does not exist`));
    return reply.header('content-type', JSON_CONTENT_TYPE).send(text);
  });

  app.put<{ Params: IdParams; Body: PutItemBody }>(
    ITEM_ROUTE,
    { onRequest, schema: { body: PUT_BODY_SCHEMA } },
    async (request, reply) => {
      const { value, ifVersion } = request.body;
      const call = callOf(request, reply);
      return items.write(request.params.id, value, ifVersion === undefined ? call : { ...call, ifVersion });
    },
  );

  app.delete<{ Params: IdParams }>(ITEM_ROUTE, { onRequest }, async (request, reply) => {
    if (await items.delete(request.params.id, callOf(request, reply))) return reply.code(204).send();
    return sendError(reply, errorReply('not_found', `item ${request.params.id} does not exist`));
  });
}
