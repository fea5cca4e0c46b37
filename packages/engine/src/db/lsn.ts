/**
 * Postgres WAL positions as the replica rule uses them: the statement that reads the primary's
 * position, and their order. One place, because a watermark written from one statement and
 * compared by another must mean the same thing.
 */

/**
 * The primary's WAL insert position as text ('X/Y'). Read after a COMMIT on the same
 * connection it is at or past the end of that commit's record: a watermark a replica must have
 * replayed to have seen the commit.
 */
export const CURRENT_LSN_SQL = 'SELECT pg_current_wal_insert_lsn()::text AS lsn';

/** The later of two LSNs ('X/Y' hex; '' is earliest). */
export function maxLsn(a: string, b: string): string {
  if (a === '') return b;
  if (b === '') return a;
  return lsnValue(a) >= lsnValue(b) ? a : b;
}

function lsnValue(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!match) throw new Error(`unreachable: ${JSON.stringify(lsn)} is not an LSN`);
  return (BigInt(`0x${match[1]!}`) << 32n) | BigInt(`0x${match[2]!}`);
}
