import { setTimeout as sleep } from 'node:timers/promises';
import { KeylaneError, OverloadedError, type KeylaneClient, type Item } from '@keylane/sdk';
import type { CallerConfig } from './config.js';
import type { Log } from './log.js';

/** What a run did, logged once at the end and returned for tests. */
export interface CallerSummary {
  rounds: number;
  /** Keys whose write and read both succeeded. */
  served: number;
  /** Successful write+read pairs per instance id. */
  servedBy: Record<string, number>;
  /** Failed operations per error code. */
  failures: Record<string, number>;
}

/**
 * Writes then reads keys 1..config.keys every round until `signal` aborts. Routing is the
 * SDK's: the instance logged for a key is the one `getServiceConnection` picks, which is the
 * one the write and the read went to while the healthy set stays the same.
 */
export async function runCaller(
  client: KeylaneClient,
  config: CallerConfig,
  log: Log,
  signal: AbortSignal,
): Promise<CallerSummary> {
  const summary: CallerSummary = { rounds: 0, served: 0, servedBy: {}, failures: {} };
  while (!signal.aborted) {
    summary.rounds += 1;
    const round = summary.rounds;
    for (let key = 1; key <= config.keys && !signal.aborted; key += 1) {
      let instance = '(none)';
      try {
        instance = client.getServiceConnection(key).instanceId;
        const written = await client.put(key, { round, at: new Date().toISOString() }, { signal });
        const read = await client.get(key, { signal });
        // Asked again: a connection failure may have moved the key to another instance since.
        instance = client.getServiceConnection(key).instanceId;
        log('info', 'served', {
          key,
          instance,
          written: written.version,
          read: describeRead(read, written),
        });
        summary.served += 1;
        summary.servedBy[instance] = (summary.servedBy[instance] ?? 0) + 1;
      } catch (err) {
        if (signal.aborted) break;
        const pause = handleFailure(err, key, instance, log);
        summary.failures[codeOf(err)] = (summary.failures[codeOf(err)] ?? 0) + 1;
        if (pause > 0) await sleep(pause, undefined, { signal }).catch(() => undefined);
      }
    }
    await sleep(config.intervalMs, undefined, { signal }).catch(() => undefined);
  }
  return summary;
}

// Another caller may have written in between: a newer version is not an error.
function describeRead(read: Item | null, written: Item): string {
  if (read === null) return 'missing';
  if (read.version === written.version) return 'own-write';
  return read.version > written.version ? 'newer' : 'older';
}

/**
 * Decides by `code` (never by message) what a failure means for the loop; returns how long
 * to pause. Anything that is not a Keylane error is a bug here and is thrown.
 */
function handleFailure(err: unknown, key: number, instance: string, log: Log): number {
  if (!(err instanceof KeylaneError)) throw err;
  const fields = { key, instance, code: err.code, error: err.message };
  switch (err.code) {
    case 'overloaded':
      log('warn', 'instance overloaded; backing off', fields);
      return err instanceof OverloadedError ? err.retryAfterMs : 1000;
    case 'no_healthy_instance':
      log('warn', 'no healthy instance; waiting for the fleet', fields);
      return 1000;
    case 'unavailable':
    case 'deadline_exceeded':
    case 'outcome_unknown':
    case 'connection_failed':
    case 'request_timeout':
    case 'service_error':
      // Retryable from the caller's point of view; the SDK already moved the key if the
      // instance went down. The next round tries again.
      log('warn', 'request failed', fields);
      return 0;
    default:
      // invalid_id, invalid_options, client_closed: a bug in this program, not in the fleet.
      throw err;
  }
}

function codeOf(err: unknown): string {
  return err instanceof KeylaneError ? err.code : 'unexpected';
}
