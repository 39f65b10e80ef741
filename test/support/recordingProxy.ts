// A real HTTP proxy on loopback that forwards to an upstream (the simulator) and records each
// exchange byte for byte, so contract tests see exactly what the client sent and what came back.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Exchange } from './openapi.js';

export interface RecordingProxy {
  url: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

export async function startRecordingProxy(upstream: string): Promise<RecordingProxy> {
  const target = new URL(upstream);
  const exchanges: Exchange[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const requestBody = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://proxy');
      const headers = { ...req.headers, host: target.host };
      const up = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
        (upRes) => {
          const out: Buffer[] = [];
          upRes.on('data', (c: Buffer) => out.push(c));
          upRes.on('end', () => {
            const responseBody = Buffer.concat(out);
            exchanges.push({
              method: req.method ?? 'GET',
              path: url.pathname,
              query: url.searchParams,
              requestContentType: req.headers['content-type'],
              requestBody: requestBody.toString('utf8'),
              status: upRes.statusCode ?? 0,
              responseContentType: upRes.headers['content-type'],
              responseBody: responseBody.toString('utf8'),
            });
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            res.end(responseBody);
          });
        },
      );
      up.on('error', () => res.destroy());
      up.end(requestBody);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
