import { HEALTH_READY_PATH } from '@keylane/protocol';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { clientErrorReply, writeRawReply } from './client-error.js';
import { errorReply, logLevelOf, reply as codeReply, type ErrorReply } from './error-reply.js';
import type { ServiceMetrics } from './metrics.js';
import { errorCodeOf, sendError } from './send-error.js';

// The shell's errors plugin: every way a failure reaches the wire (the HTTP parser's refusals,
// Fastify's own, what a route or hook threw, an unknown route) answers a registry body here,
// and is counted and logged once here, whichever of those paths it took.

// An id is at most 20 characters; anything past this is refused by the router itself
// (answered invalid_id), and longer paths elsewhere simply match no route. Stated here because
// the answer names it; the app gives it to the router.
export const MAX_PARAM_LENGTH = 64;

export interface ErrorHandlingOptions {
  /** Requests under this path whose URL the router cannot decode name a bad key: `invalid_id`. */
  keyedPath: string;
  metrics: ServiceMetrics;
  logger: Logger;
}

/** The two handlers Fastify takes only when the app is built: the parser's refusals and its own routing errors. */
export function errorHandlerOptions({
  keyedPath,
  metrics,
  logger,
}: ErrorHandlingOptions): Pick<FastifyServerOptions, 'clientErrorHandler' | 'frameworkErrors'> {
  return {
    clientErrorHandler: (err, socket) => {
      const { reason, answer } = clientErrorReply(err, keyedPath);
      metrics.countClientError(reason);
      if (answer === null) {
        socket.destroy();
        return;
      }
      logger.info(
        { reason, code: answer.body.error.code, status: answer.status },
        'request refused by the HTTP parser',
      );
      writeRawReply(socket, answer);
    },
    frameworkErrors: (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      // A bad percent-encoding or an over-long segment under /v1/items/ is a bad id.
      const underItems = request.url.startsWith(`${keyedPath}/`);
      const answer =
        underItems && (err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_MAX_PARAM_LENGTH')
          ? codeReply(
              'invalid_id',
              err.code === 'FST_ERR_BAD_URL'
                ? 'invalid id: bad percent-encoding'
                : `invalid id: longer than ${MAX_PARAM_LENGTH} characters`,
            )
          : errorReply(err, String(request.id));
      // Replies from here skip the route hooks: count and log them on their own.
      metrics.countRequest('unmatched', request.method, answer.status);
      metrics.countError(answer.body.error.code);
      request.log.info(
        {
          method: request.method,
          url: shortUrl(request.url),
          status: answer.status,
          code: answer.body.error.code,
        },
        'request refused',
      );
      void sendError(reply, answer);
    },
  };
}

/**
 * The rest, on the app: route and hook errors, unknown routes, and one count (and, for an
 * error answer, one log line) per answer.
 */
export function registerErrorHandling(app: FastifyInstance, { metrics }: Pick<ErrorHandlingOptions, 'metrics'>): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched');
    metrics.observeRequest(route, request.method, reply.statusCode, reply.elapsedTime / 1000);
    const status = reply.statusCode;
    if (status < 400 || route === HEALTH_READY_PATH) {
      request.log.debug({ method: request.method, route, status }, 'request served');
      return;
    }
    const code = errorCodeOf(reply);
    if (code !== undefined) metrics.countError(code);
    const fields = { method: request.method, url: shortUrl(request.url), status, code };
    request.log[logLevelOf(code)](fields, status >= 500 ? 'request failed' : 'request refused');
  });

  app.setErrorHandler((err, request, reply) => {
    const answer: ErrorReply = errorReply(err, String(request.id));
    if (answer.logLevel === 'error') request.log.error({ err }, 'unexpected error');
    return sendError(reply, answer);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, codeReply('not_found', `no route ${request.method} ${shortUrl(request.url)}`)),
  );
}

// Hostile URLs can be 16 KiB long; logs and messages carry a prefix.
function shortUrl(url: string): string {
  return url.length > 120 ? `${url.slice(0, 120)}…` : url;
}
