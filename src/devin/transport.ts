// One HTTP exchange over node:http(s), reporting whether the request had been fully written when
// a connection failed. fetch() cannot tell us that, and the retry rules for writes depend on it.
import http from 'node:http';
import https from 'node:https';

export interface TransportRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string | undefined;
  timeoutMs: number;
  /** Aborting it stops the exchange at once with a TransportError coded EABORTED. */
  signal?: AbortSignal | undefined;
}

export interface TransportResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class TransportError extends Error {
  constructor(
    readonly code: string | undefined,
    /** The request had been completely written to the socket before the failure. */
    readonly sent: boolean,
    options?: ErrorOptions,
  ) {
    super(`transport failure: ${code ?? 'unknown'}`, options);
    this.name = 'TransportError';
  }
}

export interface Transport {
  send(req: TransportRequest): Promise<TransportResponse>;
  close(): void;
}

export function createTransport(maxSockets: number): Transport {
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets });
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets });
  return {
    send: (req) => send(req, req.url.protocol === 'https:' ? httpsAgent : httpAgent),
    close: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

function send(req: TransportRequest, agent: http.Agent): Promise<TransportResponse> {
  return new Promise((resolve, reject) => {
    const lib = req.url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
    // 'finish' means the whole request (headers and Content-Length-framed body) reached the
    // kernel. Before that, the server cannot have a complete request, so it cannot have applied it.
    let sent = false;
    let settled = false;
    const fail = (code: string | undefined, cause: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new TransportError(code, sent, { cause }));
    };
    const request = lib.request(req.url, { method: req.method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'ERESPONSE', err));
      res.on('aborted', () => fail('ECONNRESET', new Error('response aborted')));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`no response within ${req.timeoutMs} ms`), { code: 'ETIMEDOUT' });
      fail('ETIMEDOUT', err);
      request.destroy(err);
    }, req.timeoutMs);
    request.on('finish', () => {
      sent = true;
    });
    request.on('error', (err: NodeJS.ErrnoException) => fail(err.code, err));
    const signal = req.signal;
    if (signal) {
      const onAbort = () => {
        const err = Object.assign(new Error('aborted by the caller'), { code: 'EABORTED' });
        fail('EABORTED', err);
        request.destroy(err);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      request.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    request.end(req.body);
  });
}
