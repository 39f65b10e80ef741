// A TCP proxy on loopback in front of an LDAP server, for tests that must see what a client asks:
// it forwards bytes both ways untouched and decodes the client's requests (BER framing, the
// protocolOp tag, a search's base and scope) into a list. Its target can be switched: existing
// connections are dropped, as a load balancer or a DNS failover would, and new ones reach the new
// server. Plain LDAP only (StartTLS would hide the requests).
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export type LdapOp =
  | 'bind'
  | 'unbind'
  | 'search'
  | 'modify'
  | 'add'
  | 'delete'
  | 'modifyDN'
  | 'compare'
  | 'abandon'
  | 'extended'
  | 'other';

export interface LdapRequest {
  op: LdapOp;
  /** search only. */
  base?: string;
  scope?: 'base' | 'one' | 'sub';
  /** Which client connection (1, 2, …), in accept order. */
  connection: number;
}

export interface LdapProxy {
  /** ldap://127.0.0.1:<port> */
  url: string;
  requests: LdapRequest[];
  /** Sends new connections to `url` (ldap://host:port) and drops the open ones. */
  retarget(url: string): void;
  /** Client connections open now. */
  openConnections(): number;
  close(): Promise<void>;
}

const OPS: Readonly<Record<number, LdapOp>> = {
  96: 'bind',
  66: 'unbind',
  99: 'search',
  102: 'modify',
  104: 'add',
  74: 'delete',
  108: 'modifyDN',
  110: 'compare',
  80: 'abandon',
  119: 'extended',
};
const SCOPES = ['base', 'one', 'sub'] as const;

/** Tag, and where the value starts and ends; undefined until the buffer holds the whole element. */
function element(buf: Buffer, at: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > buf.length) return undefined;
  const tag = buf[at] as number;
  let len = buf[at + 1] as number;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (start + n > buf.length) return undefined;
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + (buf[start + k] as number);
    start += n;
  }
  return start + len > buf.length ? undefined : { tag, start, end: start + len };
}

function decode(message: Buffer, connection: number): LdapRequest {
  const outer = element(message, 0);
  if (!outer) return { op: 'other', connection };
  const id = element(message, outer.start);
  if (!id) return { op: 'other', connection };
  const op = element(message, id.end);
  if (!op) return { op: 'other', connection };
  const name = OPS[op.tag] ?? 'other';
  if (name !== 'search') return { op: name, connection };
  const base = element(message, op.start);
  const scope = base ? element(message, base.end) : undefined;
  return {
    op: name,
    connection,
    ...(base ? { base: message.subarray(base.start, base.end).toString('utf8') } : {}),
    ...(scope ? { scope: SCOPES[message[scope.start] as number] ?? 'sub' } : {}),
  };
}

export async function startLdapProxy(targetUrl: string): Promise<LdapProxy> {
  let target = new URL(targetUrl);
  const requests: LdapRequest[] = [];
  const open = new Set<Socket>();
  const clients = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((client) => {
    const n = ++connections;
    const upstream = tcpConnect({ host: target.hostname, port: Number(target.port || 389) });
    open.add(client);
    open.add(upstream);
    clients.add(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
      clients.delete(client);
    };
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const m = element(pending, 0);
        if (!m) break;
        requests.push(decode(pending.subarray(0, m.end), n));
        pending = pending.subarray(m.end);
      }
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `ldap://127.0.0.1:${port}`,
    requests,
    retarget(url: string) {
      target = new URL(url);
      for (const s of [...open]) s.destroy();
      open.clear();
      clients.clear();
    },
    openConnections: () => clients.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
