import { EventEmitter } from 'node:events';

/**
 * What aborts a request: its deadline or the caller's signal. An EventEmitter, not an
 * AbortController: undici takes either as `signal`, and an AbortSignal per request (created,
 * listened to, unlistened) cost 15-40 µs of CPU per call here, a third of the SDK's own share
 * of a cache hit's round trip.
 */
export class Deadline extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }
}
