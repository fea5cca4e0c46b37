import { errorAnswer, keyedRequestHooks, sendError } from '@keylane/item-service';
import { KeylaneError, parseLongId } from '@keylane/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Carts } from './carts.js';

export const CARTS_PATH = '/v1/carts';
export const CART_ROUTE = `${CARTS_PATH}/:id`;
export const LINE_ROUTE = `${CARTS_PATH}/:id/lines/:sku`;

/**
 * A sku is a short code, never free text: it names a row and goes into a log line unquoted. It
 * starts with a letter or digit so `.` and `..` (which URLs resolve away) are never skus.
 */
export const SKU_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Quantities and prices the service stores; the database also refuses `qty <= 0`. */
export const MAX_QTY = 10_000;
/** 10^12 cents: far below 2^53, so every price is exact as a JSON number. */
export const MAX_PRICE_CENTS = 1_000_000_000_000;
const OWNER_PATTERN = '^[A-Za-z0-9._@+-]{1,128}$';
/** The owner a cart gets when the write that creates it names none. */
export const DEFAULT_OWNER = 'anonymous';

/** No coercion (Ajv runs without it): `"3"` is refused, not read as 3; unknown fields too. */
export const LINE_BODY_SCHEMA = {
  type: 'object',
  required: ['qty', 'priceCents'],
  additionalProperties: false,
  properties: {
    qty: { type: 'integer', minimum: 1, maximum: MAX_QTY },
    priceCents: { type: 'integer', minimum: 0, maximum: MAX_PRICE_CENTS },
    owner: { type: 'string', pattern: OWNER_PATTERN },
  },
} as const;

export interface LineBody {
  qty: number;
  priceCents: number;
  owner?: string;
}

interface CartParams {
  id: string;
  sku?: string;
}

/** The registry has one code for a bad key: a sku is half of a line's key, so it answers `invalid_id` too. */
export class InvalidSkuError extends KeylaneError {
  declare readonly code: 'invalid_id';

  constructor(raw: string) {
    super('invalid_id', `invalid sku ${JSON.stringify(raw.slice(0, 80))}: expected 1-64 characters from [A-Za-z0-9._-], the first a letter or digit`);
  }
}

export function parseSku(raw: string): string {
  if (!SKU_PATTERN.test(raw)) throw new InvalidSkuError(raw);
  return raw;
}

export function registerCartRoutes(app: FastifyInstance, carts: Carts, options: { clockSkewMs: number }): void {
  const { onRequest, callOf } = keyedRequestHooks<CartParams>({
    clockSkewMs: options.clockSkewMs,
    checkParams: (params) => {
      parseLongId(params.id);
      if (params.sku !== undefined) parseSku(params.sku);
    },
  });
  const noCart = (reply: FastifyReply, id: string) => sendError(reply, errorAnswer('not_found', `cart ${id} does not exist`));

  app.get<{ Params: CartParams }>(CART_ROUTE, { onRequest }, async (request, reply) => {
    const cart = await carts.get(request.params.id, callOf(request, reply));
    return cart ?? noCart(reply, request.params.id);
  });

  app.put<{ Params: CartParams & { sku: string }; Body: LineBody }>(
    LINE_ROUTE,
    { onRequest, schema: { body: LINE_BODY_SCHEMA } },
    async (request, reply) => {
      const { qty, priceCents, owner = DEFAULT_OWNER } = request.body;
      return carts.setLine(request.params.id, request.params.sku, { qty, priceCents, owner }, callOf(request, reply));
    },
  );

  app.delete<{ Params: CartParams & { sku: string } }>(LINE_ROUTE, { onRequest }, async (request, reply) => {
    const { id, sku } = request.params;
    const cart = await carts.removeLine(id, sku, callOf(request, reply));
    return cart ?? sendError(reply, errorAnswer('not_found', `cart ${id} has no line ${sku}`));
  });

  app.delete<{ Params: CartParams }>(CART_ROUTE, { onRequest }, async (request, reply) => {
    if (await carts.deleteCart(request.params.id, callOf(request, reply))) return reply.code(204).send();
    return noCart(reply, request.params.id);
  });
}
