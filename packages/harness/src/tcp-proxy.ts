import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real server (Postgres, say) that tests turn into the failures a
 * network makes: a black hole (bytes in both directions dropped, no FIN, no RST, as a
 * partition looks), connection resets, or nothing listening at all (the server is "down").
 * Only connections made through it are touched, so other suites sharing the server are not.
 */
export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  /** While true, every byte in both directions is dropped. */
  blackHole: boolean;
  /** Resets every proxied connection (both sides destroyed). */
  cutAll(): void;
  /**
   * Every connection open now stops passing bytes, for good, while new ones work: what sockets
   * left in TCP retransmission backoff look like just after a partition healed.
   */
  strandOpen(): void;
  /** Resets one proxied connection at random; false when there is none. */
  cutOne(random?: () => number): boolean;
  /** Connections proxied now. */
  readonly connections: number;
  /** Stops listening and cuts everything: connecting is refused, as with a stopped server. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const stranded = new WeakSet<Socket>();
  let blackHole = false;
  let server: Server | undefined;
  let port = 0;

  const onConnection = (client: Socket): void => {
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('data', (chunk) => {
        if (!blackHole && !stranded.has(from)) to.write(chunk);
      });
      from.on('error', () => to.destroy());
      from.on('close', () => {
        pairs.delete(pair);
        to.destroy();
      });
    }
  };
  const listen = async (): Promise<void> => {
    const next = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => resolve());
    });
    server = next;
    const address = next.address();
    if (typeof address !== 'object' || address === null) throw new Error('the proxy has no port');
    port = address.port;
  };
  const cutAll = (): void => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  const down = async (): Promise<void> => {
    const current = server;
    server = undefined;
    cutAll();
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  await listen();

  return {
    get port() {
      return port;
    },
    via(url: string): string {
      const parsed = new URL(url);
      parsed.host = `127.0.0.1:${port}`;
      return parsed.toString();
    },
    get blackHole() {
      return blackHole;
    },
    set blackHole(on: boolean) {
      blackHole = on;
    },
    cutAll,
    strandOpen() {
      for (const [a, b] of pairs) {
        stranded.add(a);
        stranded.add(b);
      }
    },
    cutOne(random = Math.random): boolean {
      const all = [...pairs];
      const pick = all[Math.floor(random() * all.length)];
      if (!pick) return false;
      pick[0].destroy();
      pick[1].destroy();
      pairs.delete(pick);
      return true;
    },
    get connections() {
      return pairs.size;
    },
    down,
    async up() {
      if (!server) await listen();
    },
    close: down,
  };
}
