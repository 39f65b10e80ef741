// What notifications are delivered to in tests: a real SMTP server (smtp-server) that offers
// STARTTLS with a certificate made by openssl and insists on AUTH over TLS, and one real HTTP server
// on 127.0.0.1 standing in for Slack, Teams and a generic webhook receiver, which records every
// request and answers each route with the statuses it is told to, then 200.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { makeServerTls, type ServerTls } from './tls.js';

export interface ReceivedMail {
  from: string;
  to: string[];
  user: string | undefined;
  /** The connection was upgraded with STARTTLS before the mail was sent. */
  secure: boolean;
  raw: string;
}

export interface TestSmtp {
  port: number;
  tls: ServerTls;
  mails: ReceivedMail[];
  /** Login attempts refused (a wrong user or password). */
  refusedLogins: number;
  close(): Promise<void>;
}

export async function startSmtp(dir: string, login: { user: string; password: string }): Promise<TestSmtp> {
  const tls = await makeServerTls(dir, 'idsync smtp test CA');
  const mails: ReceivedMail[] = [];
  const state = { refusedLogins: 0 };
  const server = new SMTPServer({
    secure: false,
    key: tls.keyPem,
    cert: tls.certPem,
    authMethods: ['PLAIN', 'LOGIN'],
    // The default, said out loud: no AUTH before STARTTLS.
    allowInsecureAuth: false,
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === login.user && auth.password === login.password)
        return cb(null, { user: auth.username });
      state.refusedLogins++;
      return cb(new Error('authentication failed'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : undefined,
          secure: session.secure,
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    tls,
    mails,
    get refusedLogins() {
      return state.refusedLogins;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The decoded text of a MIME message's parts (quoted-printable and base64 undone), and its subject. */
export function mailParts(raw: string): { subject: string; headers: string; text: string; html: string } {
  const [headers = '', ...rest] = raw.split(/\r?\n\r?\n/);
  const body = rest.join('\n\n');
  const unfolded = headers.replace(/\r?\n[ \t]+/g, ' ');
  const subject = /^subject: (.*)$/im.exec(unfolded)?.[1] ?? '';
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(unfolded)?.[1];
  const parts = boundary ? body.split(`--${boundary}`) : [`${headers}\n\n${body}`];
  let text = '';
  let html = '';
  for (const part of parts) {
    const [h = '', ...b] = part.split(/\r?\n\r?\n/);
    const content = b.join('\n\n');
    const decoded = /content-transfer-encoding: *base64/i.test(h)
      ? Buffer.from(content.replace(/\s+/g, ''), 'base64').toString('utf8')
      : /content-transfer-encoding: *quoted-printable/i.test(h)
        ? Buffer.from(
            content
              .replace(/=\r?\n/g, '')
              .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
            'latin1',
          ).toString('utf8')
        : content;
    if (/content-type: *text\/plain/i.test(h)) text += decoded;
    if (/content-type: *text\/html/i.test(h)) html += decoded;
  }
  return { subject, headers: unfolded, text, html };
}

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
}

export interface TestReceivers {
  url: string;
  requests: ReceivedRequest[];
  /** Requests under a path prefix that were answered 2xx. */
  delivered(prefix: string): ReceivedRequest[];
  /** The next answers of the routes under `prefix` (then 200 again). */
  failNext(prefix: string, statuses: number[]): void;
  close(): Promise<void>;
}

export async function startReceivers(): Promise<TestReceivers> {
  const requests: ReceivedRequest[] = [];
  const failures = new Map<string, number[]>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      const prefix = [...failures.keys()].find((p) => path.startsWith(p));
      const status = (prefix !== undefined ? failures.get(prefix)?.shift() : undefined) ?? 200;
      requests.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      // Slack answers "ok"; Teams' workflow trigger 202 (both are only read for their status).
      res.writeHead(status === 200 && path.startsWith('/teams') ? 202 : status, {
        'content-type': 'text/plain',
      });
      res.end(status < 300 ? 'ok' : 'server error');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    delivered: (prefix) => requests.filter((r) => r.path.startsWith(prefix) && r.status < 300),
    failNext(prefix, statuses) {
      failures.set(prefix, [...statuses]);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
