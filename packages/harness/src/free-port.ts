import { createServer } from 'node:net';

// Ports handed out by this process lately. Callers usually ask for several ports before any of
// their processes binds one, and the kernel may hand a just-closed port out again: two entries
// of one fleet on one port then answer for each other (the compose test saw it in CI).
const recent = new Set<number>();
const REMEMBERED = 512;

/** A TCP port on `host` that was free a moment ago (for processes that need a fixed port), not one this process was given lately. */
export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await anyFreePort(host);
    if (recent.has(port)) continue;
    recent.add(port);
    if (recent.size > REMEMBERED) recent.delete(recent.values().next().value as number);
    return port;
  }
  throw new Error('no free port that this process was not given lately, after 50 tries');
}

function anyFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
