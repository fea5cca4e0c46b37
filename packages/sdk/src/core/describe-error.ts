/** `ECONNREFUSED`, `UND_ERR_SOCKET: other side closed`, ...: short and greppable. */
export function describeError(err: unknown): string {
  // Duck-typed: errors from another realm (vm contexts, test runners) fail `instanceof Error`.
  if (typeof err !== 'object' || err === null) return String(err);
  const { code, message } = err as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : Object.prototype.toString.call(err);
  return typeof code === 'string' ? `${code}: ${text}` : text;
}
