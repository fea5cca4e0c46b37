import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import {
  AUTHORITATIVE_ANSWER,
  RECURSION_DESIRED,
  decode,
  encode,
  type Answer,
  type Packet,
} from 'dns-packet';

// RCODEs live in the header's low four bits, which dns-packet's `flags` carries as given.
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;

/** How the server treats queries for its name right now. */
export type DnsMode = 'answer' | 'servfail' | 'silent';

/**
 * A real authoritative DNS server for one name, on UDP 127.0.0.1 port 0: answers A and
 * AAAA queries from lists the test changes while a client is polling it, or SERVFAILs, or
 * stops answering. Other names get NXDOMAIN.
 */
export class TestDnsServer {
  readonly name: string;
  a: string[] = [];
  aaaa: string[] = [];
  mode: DnsMode = 'answer';
  /** Record types that SERVFAIL even in 'answer' mode: a half-broken upstream. */
  readonly failTypes = new Set<'A' | 'AAAA'>();
  /** Queries received for the name, by type. */
  readonly queries = { A: 0, AAAA: 0, other: 0 };
  readonly #socket: Socket;

  private constructor(name: string, socket: Socket) {
    this.name = name;
    this.#socket = socket;
    socket.on('message', (message, peer) => this.#answer(message, peer));
  }

  static async start(name: string): Promise<TestDnsServer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    return new TestDnsServer(name, socket);
  }

  /** `127.0.0.1:<port>`: the form `instances.servers` takes. */
  get server(): string {
    const { address, port } = this.#socket.address();
    return `${address}:${port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  #answer(message: Buffer, peer: RemoteInfo): void {
    let query: ReturnType<typeof decode>;
    try {
      query = decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (question === undefined) return;
    const ours = question.name.toLowerCase() === this.name.toLowerCase();
    if (ours) {
      if (question.type === 'A' || question.type === 'AAAA') this.queries[question.type]++;
      else this.queries.other++;
      if (this.mode === 'silent') return;
    }
    let rcode: number = RCODE.NOERROR;
    const answers: Answer[] = [];
    if (!ours) rcode = RCODE.NXDOMAIN;
    else if (this.mode === 'servfail') rcode = RCODE.SERVFAIL;
    else if (
      (question.type === 'A' || question.type === 'AAAA') &&
      this.failTypes.has(question.type)
    ) {
      rcode = RCODE.SERVFAIL;
    } else if (question.type === 'A' || question.type === 'AAAA') {
      for (const data of question.type === 'A' ? this.a : this.aaaa) {
        answers.push({ type: question.type, name: question.name, class: 'IN', ttl: 1, data });
      }
    }
    const response: Packet = {
      type: 'response',
      id: query.id ?? 0,
      flags: AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & RECURSION_DESIRED) | rcode,
      questions: [question],
      answers,
    };
    this.#socket.send(encode(response), peer.port, peer.address);
  }
}
