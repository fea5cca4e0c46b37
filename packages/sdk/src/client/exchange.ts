import type { IncomingHttpHeaders } from 'node:http';
import { errors, type Dispatcher } from 'undici';

/**
 * What ends one attempt early: its call's deadline, the caller's abort, or (for a read) its
 * instance being marked down. Whoever aborts calls `abort()`; the exchange in flight, if any,
 * is told through the hook it sets.
 */
export class AttemptSignal {
  aborted = false;
  onAbort: (() => void) | undefined = undefined;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.onAbort?.();
  }
}

export interface ExchangeRequest {
  readonly method: Dispatcher.HttpMethod;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string | null;
}

export interface ExchangeResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/**
 * One request and its whole answer as text, through `dispatch` with a handler of our own.
 * `Pool.request` wraps the same dispatch in a promise-returning API with a Readable body and an
 * abort-signal listener; reading that body to its end (`body.text()`) goes through the stream
 * machinery (nextTicks, push, read, end) for an answer that is one small JSON chunk. Errors are
 * the ones `request` rejects with (the dispatcher's own), so the caller classifies them the same
 * way; an abort is undici's `RequestAbortedError`, as `request` gives for an EventEmitter signal.
 */
export function exchange(
  dispatcher: Dispatcher,
  request: ExchangeRequest,
  signal: AttemptSignal,
): Promise<ExchangeResponse> {
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(request, new ExchangeHandler(signal, resolve, reject));
  });
}

class ExchangeHandler implements Dispatcher.DispatchHandler {
  #status = 0;
  #headers: IncomingHttpHeaders = {};
  #chunks: Buffer[] = [];

  constructor(
    private readonly signal: AttemptSignal,
    private readonly resolve: (response: ExchangeResponse) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // Aborted while it waited for a connection: it ends as it starts, nothing sent.
    if (this.signal.aborted) {
      controller.abort(new errors.RequestAbortedError());
      return;
    }
    this.signal.onAbort = () => controller.abort(new errors.RequestAbortedError());
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // A 1xx comes before the answer and is not it.
    if (statusCode < 200) return;
    this.#status = statusCode;
    this.#headers = headers;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#chunks.push(chunk);
  }

  // undici ends a dispatch once, with onResponseEnd or onResponseError; both let go of the abort.
  onResponseEnd(): void {
    this.signal.onAbort = undefined;
    const chunks = this.#chunks;
    const text =
      chunks.length === 0
        ? ''
        : chunks.length === 1
          ? chunks[0]!.toString('utf8')
          : Buffer.concat(chunks).toString('utf8');
    this.resolve({ status: this.#status, headers: this.#headers, text });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.signal.onAbort = undefined;
    this.reject(error);
  }
}
