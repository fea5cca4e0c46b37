import { DeadlineExceededError } from '@keylane/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { requestDeadline } from '../deadline.js';

/** What the engine needs to know of a caller: its deadline, and whether it is gone. */
export interface CallerOf {
  deadline?: number;
  signal: AbortSignal;
}

/**
 * The two hooks every per-key route of a service built on the engine shares: `onRequest`
 * checks the key (with `checkParams`) and the deadline header before the body is read, so a
 * bad key costs nothing and never reaches the database, and a request whose caller already
 * gave up starts nothing; `callOf` hands the engine that deadline and a signal that fires
 * when the caller closes its connection before its work started (`deadlineOf`: the deadline
 * alone, for the hit path).
 */
export function keyedRequestHooks<P>(options: {
  clockSkewMs: number;
  /** Throws the registry error for a bad key (or other bad path parameter). */
  checkParams: (params: P) => void;
}): {
  onRequest: (request: FastifyRequest<{ Params: P }>, reply: FastifyReply, done: (err?: Error) => void) => void;
  callOf: (request: FastifyRequest, reply: FastifyReply) => CallerOf;
  /** The deadline alone (a read needs no signal: it never commits anything). */
  deadlineOf: (request: FastifyRequest) => number | undefined;
} {
  const deadlines = new WeakMap<FastifyRequest, number>();
  return {
    onRequest(request, _reply, done) {
      try {
        options.checkParams(request.params as P);
        const deadline = requestDeadline(request, options.clockSkewMs);
        if (deadline !== undefined) deadlines.set(request, deadline);
      } catch (err) {
        done(err as Error);
        return;
      }
      done();
    },
    callOf(request, reply) {
      const controller = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) {
          controller.abort(
            new DeadlineExceededError('the caller closed its connection before its work started; nothing was done'),
          );
        }
      });
      const deadline = deadlines.get(request);
      return deadline === undefined ? { signal: controller.signal } : { deadline, signal: controller.signal };
    },
    deadlineOf: (request) => deadlines.get(request),
  };
}
