import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  ITEMS_PATH,
  errorBody,
  httpStatusOf,
  parseLongId,
  type ErrorCode,
  type Item,
} from '@keylane/protocol';

/** Overrides an answer: return true when it wrote the response itself. */
export type Intercept = (req: IncomingMessage, res: ServerResponse, body: string) => boolean;

export interface ItemServerOptions {
  /** Addresses to listen on, all on the same port. @default ['127.0.0.1'] */
  hosts?: readonly string[];
  /** @default 0 (the first host picks a free port; the others take the same one) */
  port?: number;
}

/**
 * An item-service stand-in: the HTTP API over an in-memory Map, on 127.0.0.1 (or the given
 * addresses), with switches to fail readiness, answer errors, die (close + destroy sockets)
 * and come back on the same port. The SDK's tests run on it (fast, and faults at will); the
 * item service's contract test (services/item-service/test/sdk-contract.test.ts) runs the same
 * SDK calls against it and the real service, so its answers cannot drift from the service's.
 */
export class ItemServer {
  readonly items = new Map<string, Item>();
  readonly name: string;
  /** While true, GET /healthz/ready answers 503. */
  failReady = false;
  /** While true, GET /healthz/ready answers 503 degraded: a dependency away, still serving. */
  degraded = false;
  intercept: Intercept | null = null;
  /** Requests to /v1/items seen, by method. */
  readonly seen = { GET: 0, PUT: 0, DELETE: 0 };
  /** GET /healthz/ready requests received, intercepted ones included. */
  readinessProbes = 0;
  /** Requests to /v1/items seen, by the local address they arrived on. */
  readonly seenByAddress = new Map<string, number>();
  readonly hosts: readonly string[];
  #servers: Server[] = [];
  #sockets = new Set<Socket>();
  #port: number;

  private constructor(name: string, hosts: readonly string[], port: number) {
    this.name = name;
    this.hosts = hosts;
    this.#port = port;
  }

  static async start(name: string, options: ItemServerOptions = {}): Promise<ItemServer> {
    const server = new ItemServer(name, options.hosts ?? ['127.0.0.1'], options.port ?? 0);
    await server.listen();
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** The URL on the first host. */
  get url(): string {
    const host = this.hosts[0]!;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.#port}`;
  }

  get running(): boolean {
    return this.#servers.length > 0;
  }

  /** Listens on port 0 the first time, on the same port after a kill. */
  async listen(): Promise<void> {
    for (const host of this.hosts) {
      const server = createServer((req, res) => this.#handle(req, res));
      server.on('connection', (socket) => {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(this.#port, host, () => resolve());
        });
      } catch (err) {
        await this.kill();
        throw err;
      }
      this.#port = (server.address() as AddressInfo).port;
      this.#servers.push(server);
    }
  }

  /** Kills the server: stops listening and destroys every open connection. */
  async kill(): Promise<void> {
    const servers = this.#servers;
    if (servers.length === 0) return;
    this.#servers = [];
    const closed = servers.map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await Promise.all(closed);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/healthz/ready') this.readinessProbes++;
      if (this.intercept?.(req, res, body) === true) return;
      this.#route(req, res, body);
    });
  }

  #route(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = req.url ?? '/';
    if (url === '/healthz/ready') {
      if (this.failReady) return sendJson(res, 503, { status: 'draining', instance: this.name });
      if (this.degraded) return sendJson(res, 503, { ready: false, degraded: true, instance: this.name });
      return sendJson(res, 200, { status: 'ready', instance: this.name });
    }
    if (!url.startsWith(`${ITEMS_PATH}/`)) return sendError(res, 'not_found', `no route ${url}`);
    let id: string;
    try {
      id = parseLongId(url.slice(ITEMS_PATH.length + 1)).toString();
    } catch (err) {
      return sendError(res, 'invalid_id', (err as Error).message);
    }
    const method = req.method as 'GET' | 'PUT' | 'DELETE';
    if (method in this.seen) this.seen[method]++;
    const local = req.socket.localAddress ?? '?';
    this.seenByAddress.set(local, (this.seenByAddress.get(local) ?? 0) + 1);
    const current = this.items.get(id);
    switch (method) {
      case 'GET':
        return current === undefined
          ? sendError(res, 'not_found', `no item ${id}`)
          : sendJson(res, 200, current);
      case 'DELETE':
        if (current === undefined) return sendError(res, 'not_found', `no item ${id}`);
        this.items.delete(id);
        res.writeHead(204).end();
        return;
      case 'PUT': {
        let parsed: { value?: unknown; ifVersion?: unknown };
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          return sendError(res, 'invalid_body', 'not JSON');
        }
        if (!('value' in parsed)) return sendError(res, 'invalid_body', 'missing value');
        const version = current?.version ?? 0;
        if (parsed.ifVersion !== undefined && parsed.ifVersion !== version) {
          // As the service answers: the version it found (null for no item), which the SDK's
          // VersionConflictError carries, so a caller can retry without a read.
          return sendError(res, 'version_conflict', `item ${id} is at version ${version}`, {}, {
            actualVersion: current?.version ?? null,
          });
        }
        const item: Item = { id, value: parsed.value, version: version + 1 };
        this.items.set(id, item);
        return sendJson(res, 200, item);
      }
      default:
        return sendError(res, 'not_found', `no route ${String(req.method)} ${url}`);
    }
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(
  res: ServerResponse,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
  /** Fields of the code's own beside code and message (`actualVersion` of a version_conflict). */
  fields: Record<string, unknown> = {},
): void {
  const body = errorBody(code, message);
  sendJson(res, httpStatusOf(code), { error: { ...body.error, ...fields } }, headers);
}
