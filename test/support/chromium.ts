// Debian's Chromium driven by playwright-core: `npx playwright install` cannot work
// offline, so tests use the apt package that scripts/ensure-test-deps.mjs installs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Every request the server received, as `METHOD /path`. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves fixed documents from loopback only; anything else is a 404, and is recorded. */
export async function serveStatic(
  files: Record<string, { body: string; contentType: string }>,
): Promise<StaticServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    requests.push(`${req.method ?? 'GET'} ${path}`);
    const file = files[path];
    if (req.method !== 'GET' || file === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.contentType, 'cache-control': 'no-store' }).end(file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

export interface PageWatch {
  /** Console errors, uncaught page errors, dialogs (alert/confirm/prompt) and crashes. */
  problems: string[];
  /** Every URL the page requested, in order. */
  requests: string[];
}

/**
 * Records everything a test of a static page must fail on. Dialogs are dismissed so a stray
 * `alert()` cannot hang the page; it is still recorded as a problem.
 */
export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = { problems: [], requests: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') watch.problems.push(`console.error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => watch.problems.push(`page error: ${err.message}`));
  page.on('crash', () => watch.problems.push('page crashed'));
  page.on('dialog', (dialog) => {
    watch.problems.push(`dialog (${dialog.type()}): ${dialog.message()}`);
    void dialog.dismiss().catch(() => undefined);
  });
  page.on('request', (req) => watch.requests.push(req.url()));
  return watch;
}
